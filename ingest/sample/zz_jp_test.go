package sample

import (
	"image"
	"math/rand/v2"
	"os"
	"testing"
)

func TestZZJpegContent(t *testing.T) {
	if os.Getenv("PREVIEW") == "" {
		t.Skip()
	}
	k := newKit()
	r := rand.New(rand.NewPCG(7, 1))
	c := countryByCode("LT")
	per := newPerson(r, c, IDCard)
	lk := newLook(r, per)
	card := renderFront(k, c, per, lk, r, 1, true)
	flat := image.NewRGBA(card.Rect)
	newPainter(flat).rect(box{0, 0, 1000, 630}, hex(0xE0D0C0), 1)
	selfie := renderSelfie(r, lk, 720, 960)
	m := func(name string, img *image.RGBA, q int) {
		t0 := cpuNow()
		var n int
		for range 10 {
			n = len(encodeJPEG(img, q))
		}
		t.Logf("%-8s q%d %v %d bytes", name, q, (cpuNow()-t0)/10, n)
	}
	m("flat", flat, 90)
	m("card", card, 90)
	m("card", card, 85)
	m("selfie", selfie, 90)
}
