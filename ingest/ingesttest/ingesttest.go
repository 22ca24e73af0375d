// Package ingesttest generates the images ingest's tests and benchmarks
// feed to normalization: a phone photo of a document (JPEG, with an EXIF
// orientation) and an A4 scan (PNG). Everything is drawn in memory from a
// seed; nothing is read from or written to disk.
package ingesttest

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
)

// Photo draws what a phone stores for a photo of an ID card on a table:
// w×h pixels (as stored, before the EXIF orientation), uneven light, a card
// turned a few degrees with printed lines and a portrait block, sensor
// noise. Content and noise are what make JPEG sizes and resampling costs
// realistic.
func Photo(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 7))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	// Card: centred, 60 % of the width, ID-1 aspect, turned by a few degrees.
	cw := 0.6 * float64(w)
	ch := cw / 1.586
	cx, cy := float64(w)/2, float64(h)/2
	ang := (r.Float64()*6 - 3) * math.Pi / 180
	sin, cos := math.Sin(ang), math.Cos(ang)
	// Text lines: rows of dark strokes of random lengths on the card.
	type stroke struct{ x0, x1, y0, y1 float64 }
	var strokes []stroke
	lineH := ch / 22
	for row := 0; row < 9; row++ {
		y := -ch/2 + ch*0.38 + float64(row)*lineH*1.6
		x := -cw/2 + cw*0.38
		for x < cw/2-cw*0.05 {
			l := lineH * (0.3 + r.Float64()*0.9)
			strokes = append(strokes, stroke{x, x + l, y, y + lineH*(0.55+0.2*r.Float64())})
			x += l + lineH*0.35
		}
	}
	noise := func() float64 { return (r.Float64() + r.Float64() + r.Float64() - 1.5) * 7 }
	for y := 0; y < h; y++ {
		fy := float64(y)
		for x := 0; x < w; x++ {
			fx := float64(x)
			// Table: warm wood with grain, lit from the top left.
			light := 0.75 + 0.25*(1-(fx/float64(w)+fy/float64(h))/2)
			grain := 10 * math.Sin(fx*0.013+3*math.Sin(fy*0.004))
			rr, gg, bb := (150+grain)*light, (105+grain*0.8)*light, (70+grain*0.5)*light
			// Card coordinates.
			dx, dy := fx-cx, fy-cy
			u, v := dx*cos+dy*sin, -dx*sin+dy*cos
			if math.Abs(u) < cw/2 && math.Abs(v) < ch/2 {
				// Guilloche background.
				gl := 8 * math.Sin(u*0.05+5*math.Sin(v*0.02))
				rr, gg, bb = (222+gl)*light, (228+gl)*light, (235-gl)*light
				// Portrait block on the left.
				if u < -cw/2+cw*0.33 && u > -cw/2+cw*0.05 && v > -ch/2+ch*0.25 && v < ch/2-ch*0.1 {
					px := (u + cw/2) / cw
					py := (v + ch/2) / ch
					s := 120 + 80*math.Sin(px*40)*math.Cos(py*30)
					rr, gg, bb = s*light, (s-15)*light, (s-30)*light
				}
				for _, s := range strokes {
					if u >= s.x0 && u < s.x1 && v >= s.y0 && v < s.y1 {
						rr, gg, bb = 35, 35, 45
						break
					}
				}
			}
			i := m.PixOffset(x, y)
			m.Pix[i] = clamp(rr + noise())
			m.Pix[i+1] = clamp(gg + noise())
			m.Pix[i+2] = clamp(bb + noise())
			m.Pix[i+3] = 255
		}
	}
	return m
}

func clamp(v float64) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v + 0.5)
}

// PhotoJPEG encodes Photo(w, h, seed) at quality 92 (as phones do) with an
// EXIF orientation (0: no EXIF segment).
func PhotoJPEG(w, h, orientation int, seed uint64) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, Photo(w, h, seed), &jpeg.Options{Quality: 92}); err != nil {
		panic(err)
	}
	if orientation == 0 {
		return b.Bytes()
	}
	return WithEXIFOrientation(b.Bytes(), uint16(orientation))
}

// ScanPNG draws a grey A4 page scanned at w×h: white paper with lines of
// text, an RGB PNG as scanners write them.
func ScanPNG(w, h int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 11))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		v := uint8(245 + r.IntN(8))
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = v, v, v-3, 255
	}
	lineH := h / 70
	for y := h / 10; y < h-h/10; y += lineH * 2 {
		for x := w / 10; x < w-w/10; {
			l := lineH/2 + r.IntN(lineH*3)
			ink := color.RGBA{30, 30, 40, 255}
			for yy := y; yy < y+lineH && yy < h; yy++ {
				for xx := x; xx < x+l && xx < w; xx++ {
					if r.IntN(5) > 0 {
						m.SetRGBA(xx, yy, ink)
					}
				}
			}
			x += l + lineH/2
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// WithEXIFOrientation inserts an APP1 Exif segment holding only the
// Orientation tag right after the SOI of a JPEG.
func WithEXIFOrientation(jpg []byte, orientation uint16) []byte {
	var t bytes.Buffer
	t.WriteString("MM\x00\x2a")
	binary.Write(&t, binary.BigEndian, uint32(8))      // offset of IFD0
	binary.Write(&t, binary.BigEndian, uint16(1))      // one entry
	binary.Write(&t, binary.BigEndian, uint16(0x0112)) // Orientation
	binary.Write(&t, binary.BigEndian, uint16(3))      // SHORT
	binary.Write(&t, binary.BigEndian, uint32(1))      // count
	binary.Write(&t, binary.BigEndian, orientation)    // value, left-justified
	binary.Write(&t, binary.BigEndian, uint16(0))
	binary.Write(&t, binary.BigEndian, uint32(0)) // no next IFD
	payload := append([]byte("Exif\x00\x00"), t.Bytes()...)
	var out bytes.Buffer
	out.Write(jpg[:2])
	out.Write([]byte{0xff, 0xe1})
	binary.Write(&out, binary.BigEndian, uint16(len(payload)+2))
	out.Write(payload)
	out.Write(jpg[2:])
	return out.Bytes()
}

// LumaPSNR returns the PSNR in dB of the luma of b against a (same size),
// ignoring a border of edge pixels where filters legitimately differ.
func LumaPSNR(a, b image.Image, border int) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Dx() != bb.Dx() || ab.Dy() != bb.Dy() {
		return math.NaN()
	}
	var se float64
	var n int
	for y := border; y < ab.Dy()-border; y++ {
		for x := border; x < ab.Dx()-border; x++ {
			d := luma(a.At(ab.Min.X+x, ab.Min.Y+y)) - luma(b.At(bb.Min.X+x, bb.Min.Y+y))
			se += d * d
			n++
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

func luma(c color.Color) float64 {
	if y, ok := c.(color.YCbCr); ok {
		return float64(y.Y)
	}
	if g, ok := c.(color.Gray); ok {
		return float64(g.Y)
	}
	r, g, b, _ := c.RGBA()
	return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 257
}
