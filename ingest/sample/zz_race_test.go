package sample

import (
	"bytes"
	"image"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestZZRaceCost(t *testing.T) {
	if os.Getenv("PREVIEW") == "" {
		t.Skip()
	}
	k := newKit()
	r := rand.New(rand.NewPCG(7, 1))
	c := countryByCode("LT")
	per := newPerson(r, c, IDCard)
	lk := newLook(r, per)
	m := func(name string, f func()) {
		t0 := time.Now()
		f()
		t.Logf("%-12s %v", name, time.Since(t0))
	}
	var front, ph, sf *image.RGBA
	m("front", func() { front = renderFront(k, c, per, lk, r, 1, true) })
	m("back", func() { renderBack(k, c, per, lk, r, 1, true) })
	m("selfie", func() { sf = renderSelfie(r, lk, 720, 960) })
	m("phone", func() { ph = phonePhoto(renderFront(k, c, per, lk, r, 1.5, false), 1.37, r, 3000, 2000, coverColour(c), false) })
	var jf, jp []byte
	m("jpeg card", func() { jf = encodeJPEG(front, 90) })
	m("jpeg selfie", func() { encodeJPEG(sf, 90) })
	m("jpeg phone", func() { jp = encodeJPEG(ph, 90) })
	m("png card", func() { encodePNG(front) })
	m("decode card", func() { image.Decode(bytes.NewReader(jf)) })
	m("decode phone", func() { image.Decode(bytes.NewReader(jp)) })
}
