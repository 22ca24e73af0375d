package sample

import (
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCost(t *testing.T) {
	if os.Getenv("PREVIEW") == "" {
		t.Skip()
	}
	fs := newKit()
	r := rand.New(rand.NewPCG(7, 1))
	c := countryByCode("LT")
	per := newPerson(r, c, IDCard)
	lk := newLook(r, per)
	m := func(name string, n int, f func()) {
		t0 := cpuNow()
		for range n {
			f()
		}
		t.Logf("%-14s %v", name, (cpuNow()-t0)/time.Duration(n))
	}
	front := renderFront(fs, c, per, lk, r, 1, true)
	sc := front
	m("front", 5, func() { renderFront(fs, c, per, lk, r, 1, true) })
	m("back", 5, func() { renderBack(fs, c, per, lk, r, 1, true) })
	m("selfie", 5, func() { renderSelfie(r, lk, 720, 960) })
	m("jpeg card", 5, func() { encodeJPEG(sc, 90) })
	m("png card", 3, func() { encodePNG(sc) })
	big := renderFront(fs, c, per, lk, r, 1.5, false)
	m("front x2", 2, func() { renderFront(fs, c, per, lk, r, 1.5, false) })
	var ph = phonePhoto(big, 1.37, r, 3000, 2000, coverColour(c), false)
	m("phone", 2, func() { phonePhoto(big, 1.37, r, 3000, 2000, coverColour(c), false) })
	m("jpeg phone", 2, func() { encodeJPEG(ph, 88) })
	m("generate60", 1, func() { Generate(DefaultOptions()) })
}

func BenchmarkZZGenerate(b *testing.B) {
	for b.Loop() {
		Generate(DefaultOptions())
	}
}

func BenchmarkZZFront(b *testing.B) {
	k := newKit()
	r := rand.New(rand.NewPCG(7, 1))
	c := countryByCode("LT")
	per := newPerson(r, c, IDCard)
	lk := newLook(r, per)
	for b.Loop() {
		renderFront(k, c, per, lk, r, 1, true)
		renderBack(k, c, per, lk, r, 1, true)
		renderSelfie(r, lk, 720, 960)
	}
}

func BenchmarkZZSelfie(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 1))
	c := countryByCode("LT")
	per := newPerson(r, c, IDCard)
	lk := newLook(r, per)
	lk.hairStyle = hairLong
	for b.Loop() {
		renderSelfie(rand.New(rand.NewPCG(1, 1)), lk, 720, 960)
	}
}
