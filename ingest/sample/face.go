package sample

import (
	"image"
	"math"
	"math/rand/v2"
)

// look is how a person is drawn: the same look is used for the portrait on the
// document and for the selfie, so a record's pictures show one person.
type look struct {
	skin, hair, eyes, shirt, lips rgb
	hairStyle                     int // hairShort, hairLong, ...
	glasses, beard                bool
	width                         float64 // face width factor
	smile                         float64
	part                          float64 // hair parting offset, -1..1
}

const (
	hairShort = iota
	hairLong
	hairBun
	hairCropped
	hairCurly
	numHairStyles
)

var (
	skinTones = []rgb{hex(0xF3D5C0), hex(0xEAC0A0), hex(0xE0B090), hex(0xD9A57F), hex(0xC68B62), hex(0xA86E4A), hex(0x8A5535), hex(0x6B3F27), hex(0x553222)}
	hairTones = []rgb{hex(0x1E1A18), hex(0x2C211B), hex(0x3B2A20), hex(0x5E4030), hex(0x8A6A45), hex(0xC9A567), hex(0x8A4328)}
	eyeTones  = []rgb{hex(0x4A2F1C), hex(0x5A3A22), hex(0x4C7BA8), hex(0x5C7F4E), hex(0x7A6035), hex(0x6F7F8C)}
)

func newLook(r *rand.Rand, p person) look {
	l := look{
		skin:  pick(r, skinTones),
		hair:  pick(r, hairTones),
		eyes:  pick(r, eyeTones),
		shirt: hsl(r.Float64()*360, 0.15+0.45*r.Float64(), 0.18+0.5*r.Float64()),
		width: 0.93 + 0.12*r.Float64(),
		smile: r.Float64()*0.8 - 0.1,
		part:  r.Float64()*2 - 1,
	}
	if age := 2025 - p.dob.Year(); age > 55 && r.IntN(3) > 0 {
		l.hair = hex(0x9B9690).mix(hex(0xD8D4CE), r.Float64())
	}
	if p.female {
		l.hairStyle = pick(r, []int{hairLong, hairLong, hairBun, hairShort, hairCurly})
	} else {
		l.hairStyle = pick(r, []int{hairShort, hairShort, hairCropped, hairCurly, hairCropped})
		l.beard = r.IntN(4) == 0
	}
	l.glasses = r.IntN(5) == 0
	l.lips = l.skin.mix(hex(0xB0525A), 0.35).scale(0.92)
	return l
}

// drawPerson draws head and shoulders with the head centred at (cx, cy) and
// r its half width.
func drawPerson(p *painter, cx, cy, r float64, l look) {
	rx, ry := r*l.width, r*1.3
	skin := l.skin
	shadeSkin := func(base rgb) func(x, y float64) rgb {
		return func(x, y float64) rgb {
			dx, dy := (x-cx+0.35*rx)/rx, (y-cy+0.45*ry)/ry
			f := 1.07 - 0.1*math.Sqrt(dx*dx+dy*dy)
			return base.scale(f)
		}
	}

	// Long hair falls behind the shoulders.
	if l.hairStyle == hairLong {
		sd := roundRectSD(cx-1.28*rx, cy-1.05*ry, cx+1.28*rx, cy+1.75*ry, 1.1*rx)
		p.paint(sd, box{cx - 1.3*rx, cy - 1.1*ry, cx + 1.3*rx, cy + 1.8*ry}, shadeHair(l.hair, cx, cy, rx, ry), 1, 1)
	}
	if l.hairStyle == hairBun {
		p.paint(ellipseSD(cx, cy-1.05*ry, 0.45*rx, 0.35*ry), ellipseBox(cx, cy-1.05*ry, 0.45*rx, 0.35*ry), shadeHair(l.hair, cx, cy, rx, ry), 1, 1)
	}

	// Torso and neck.
	tcy, trx, try := cy+2.55*ry, 2.35*rx, 1.45*ry
	p.paint(ellipseSD(cx, tcy, trx, try), ellipseBox(cx, tcy, trx, try), func(x, y float64) rgb {
		dx := (x - cx) / trx
		return l.shirt.scale(1.05 - 0.35*dx*dx - 0.1*(y-tcy+try)/try)
	}, 1, 1)
	neck := roundRectSD(cx-0.42*rx, cy+0.45*ry, cx+0.42*rx, cy+1.35*ry, 0.25*rx)
	p.paint(neck, box{cx - 0.45*rx, cy + 0.4*ry, cx + 0.45*rx, cy + 1.4*ry}, func(x, y float64) rgb {
		return skin.scale(0.86 - 0.05*math.Abs(x-cx)/rx)
	}, 1, 1)
	// Neckline of the shirt, with the shirt's edge a little darker.
	ncy := cy + 1.2*ry
	p.fill(ellipseSD(cx, ncy, 0.62*rx, 0.42*ry), ellipseBox(cx, ncy, 0.62*rx, 0.42*ry), l.shirt.scale(0.7), 1, 1)
	p.paint(ellipseSD(cx, ncy-0.02*ry, 0.55*rx, 0.36*ry), ellipseBox(cx, ncy, 0.55*rx, 0.36*ry), func(x, y float64) rgb {
		return skin.scale(0.84)
	}, 1, 1)
	p.fill(ellipseSD(cx, cy+0.72*ry, 0.5*rx, 0.2*ry), ellipseBox(cx, cy+0.72*ry, 0.5*rx, 0.2*ry), skin.scale(0.6), 0.35, 0.15*rx)

	// Ears, head.
	for _, side := range []float64{-1, 1} {
		ex := cx + side*0.96*rx
		p.fill(ellipseSD(ex, cy+0.08*ry, 0.17*rx, 0.24*ry), ellipseBox(ex, cy+0.08*ry, 0.17*rx, 0.24*ry), skin.scale(0.9), 1, 1)
		p.fill(ellipseSD(ex+side*0.02*rx, cy+0.08*ry, 0.08*rx, 0.14*ry), ellipseBox(ex, cy+0.08*ry, 0.1*rx, 0.15*ry), skin.scale(0.72), 0.6, 2)
	}
	head := headSD(cx, cy, rx, ry)
	p.paint(head, ellipseBox(cx, cy, rx, ry).grow(2), shadeSkin(skin), 1, 1)
	// Cheeks and a soft shadow on the shaded side.
	for _, side := range []float64{-1, 1} {
		p.fill(ellipseSD(cx+side*0.5*rx, cy+0.32*ry, 0.24*rx, 0.14*ry), ellipseBox(cx+side*0.5*rx, cy+0.32*ry, 0.24*rx, 0.14*ry).grow(0.2*rx), hex(0xD06A6A), 0.08, 0.2*rx)
	}
	p.fill(intersect(head, ellipseSD(cx+0.95*rx, cy, 0.5*rx, ry)), ellipseBox(cx, cy, rx, ry), skin.scale(0.75), 0.25, 0.25*rx)

	// Beard: stubble over the lower face.
	if l.beard {
		lower := intersect(head, belowSD(func(x float64) float64 {
			dx := (x - cx) / rx
			return cy + 0.28*ry - 0.25*ry*(1-dx*dx)
		}))
		p.fill(lower, ellipseBox(cx, cy, rx, ry), l.hair.scale(0.9), 0.55, 0.06*rx)
	}

	// Eyes.
	for _, side := range []float64{-1, 1} {
		ex, ey := cx+side*0.36*rx, cy+0.02*ry
		p.fill(ellipseSD(ex, ey-0.05*ry, 0.22*rx, 0.09*ry), ellipseBox(ex, ey-0.05*ry, 0.22*rx, 0.09*ry).grow(0.05*rx), skin.scale(0.78), 0.35, 0.06*rx)
		sclera := ellipseSD(ex, ey, 0.17*rx, 0.066*ry)
		sb := ellipseBox(ex, ey, 0.17*rx, 0.066*ry).grow(2)
		p.fill(sclera, sb, hex(0xEEE8E2), 1, 1)
		ix := ex + 0.01*rx
		p.fill(intersect(sclera, ellipseSD(ix, ey, 0.078*rx, 0.078*rx)), sb, l.eyes, 1, 1)
		p.fill(intersect(sclera, ellipseSD(ix, ey, 0.036*rx, 0.036*rx)), sb, hex(0x111111), 1, 1)
		p.fill(ellipseSD(ix-0.025*rx, ey-0.025*rx, 0.015*rx, 0.015*rx), sb, hex(0xFFFFFF), 0.9, 1)
		// Upper lid line.
		var lid [][2]float64
		for t := -1.0; t <= 1.0001; t += 0.25 {
			lid = append(lid, [2]float64{ex + t*0.19*rx, ey - 0.066*ry*math.Sqrt(1-0.8*t*t) - 0.004*ry})
		}
		p.stroke(lid, math.Max(1, 0.035*rx), hex(0x2A1E18), 0.9)
		// Eyebrow.
		bw := math.Max(1.5, 0.07*rx)
		var brow [][2]float64
		for t := 0.0; t <= 1.0001; t += 0.25 {
			x := cx + side*(0.16+0.42*t)*rx
			brow = append(brow, [2]float64{x, cy - 0.2*ry - 0.05*ry*math.Sin(math.Pi*(0.2+0.7*t))})
		}
		p.stroke(brow, bw, l.hair.scale(0.8).mix(skin, 0.15), 0.9)
	}

	// Nose: a shadow line, a lit tip and nostrils.
	p.stroke([][2]float64{{cx + 0.06*rx, cy + 0.08*ry}, {cx + 0.1*rx, cy + 0.3*ry}, {cx + 0.13*rx, cy + 0.38*ry}}, 0.06*rx, skin.scale(0.7), 0.35)
	p.fill(ellipseSD(cx, cy+0.38*ry, 0.12*rx, 0.07*ry), ellipseBox(cx, cy+0.38*ry, 0.12*rx, 0.07*ry).grow(0.05*rx), skin.scale(1.08), 0.5, 0.05*rx)
	for _, side := range []float64{-1, 1} {
		p.fill(ellipseSD(cx+side*0.08*rx, cy+0.42*ry, 0.045*rx, 0.022*ry), ellipseBox(cx+side*0.08*rx, cy+0.42*ry, 0.05*rx, 0.03*ry), skin.scale(0.5), 0.7, 1)
	}

	// Mouth.
	my := cy + 0.63*ry
	p.fill(ellipseSD(cx, my+0.01*ry, 0.25*rx, 0.055*ry), ellipseBox(cx, my, 0.25*rx, 0.07*ry), l.lips, 0.9, 1)
	var mouth [][2]float64
	for t := -1.0; t <= 1.0001; t += 0.2 {
		mouth = append(mouth, [2]float64{cx + t*0.26*rx, my - l.smile*0.05*ry*(1-t*t) + l.smile*0.02*ry})
	}
	p.stroke(mouth, math.Max(1, 0.025*rx), l.lips.scale(0.55), 0.9)

	// Hair on top.
	hairCol := shadeHair(l.hair, cx, cy, rx, ry)
	switch l.hairStyle {
	case hairShort, hairLong, hairBun, hairCurly:
		top := ellipseSD(cx, cy-0.1*ry, 1.06*rx, 0.98*ry)
		if l.hairStyle == hairCurly {
			base := ellipseSD(cx, cy-0.12*ry, 1.14*rx, 1.02*ry)
			top = func(x, y float64) float64 {
				a := math.Atan2(y-cy, x-cx)
				return base(x, y) + 0.04*rx*math.Sin(a*14)
			}
		}
		part := l.part
		line := belowSD(func(x float64) float64 {
			dx := (x - cx) / rx
			dip := 0.5 * ry * dx * dx
			if l.hairStyle == hairLong || l.hairStyle == hairShort {
				// a fringe swept from the parting
				dip += 0.08 * ry * (dx - part*0.4) * (1 - dx*dx)
			}
			return cy - 0.52*ry + dip
		})
		p.paint(subtract(top, line), ellipseBox(cx, cy-0.1*ry, 1.2*rx, 1.05*ry), hairCol, 1, 1)
	case hairCropped:
		top := ellipseSD(cx, cy-0.04*ry, 1.02*rx, 0.98*ry)
		line := belowSD(func(x float64) float64 {
			dx := (x - cx) / rx
			return cy - 0.6*ry + 0.55*ry*dx*dx
		})
		p.paint(subtract(top, line), ellipseBox(cx, cy, 1.1*rx, ry), hairCol, 0.92, 1)
	}

	// Glasses: two frames and a bridge.
	if l.glasses {
		frame := hex(0x222222)
		for _, side := range []float64{-1, 1} {
			ex, ey := cx+side*0.37*rx, cy+0.03*ry
			outer := roundRectSD(ex-0.27*rx, ey-0.15*ry, ex+0.27*rx, ey+0.14*ry, 0.1*rx)
			inner := roundRectSD(ex-0.24*rx, ey-0.125*ry, ex+0.24*rx, ey+0.115*ry, 0.08*rx)
			bb := box{ex - 0.3*rx, ey - 0.2*ry, ex + 0.3*rx, ey + 0.2*ry}
			p.fill(inner, bb, hex(0xDDE8F0), 0.08, 1)
			p.fill(subtract(outer, inner), bb, frame, 0.95, 1)
		}
		p.stroke([][2]float64{{cx - 0.1*rx, cy - 0.01*ry}, {cx, cy - 0.03*ry}, {cx + 0.1*rx, cy - 0.01*ry}}, 0.04*rx, frame, 0.95)
	}
}

func headSD(cx, cy, rx, ry float64) sdf {
	e := ellipseSD(cx, cy, rx, ry)
	return func(x, y float64) float64 {
		// Narrow the jaw: squeeze x below the cheekbones.
		k := 1.0
		if y > cy {
			t := (y - cy) / ry
			k = 1 - 0.16*t*t
		}
		return e(cx+(x-cx)/k, y) * k
	}
}

func shadeHair(c rgb, cx, cy, rx, ry float64) func(x, y float64) rgb {
	return func(x, y float64) rgb {
		dx, dy := (x-cx+0.3*rx)/rx, (y-cy+0.9*ry)/ry
		f := 1.15 - 0.3*math.Sqrt(dx*dx+dy*dy) + 0.04*math.Sin((x-cx)/rx*40+(y-cy)/ry*6)
		return c.scale(f)
	}
}

// renderSelfie draws a selfie: a room behind, the person large and a little
// off centre, lit from a window, with sensor grain.
func renderSelfie(r *rand.Rand, l look, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	p := newPainter(img)
	W, H := float64(w), float64(h)
	wall := hsl(r.Float64()*360, 0.08+0.2*r.Float64(), 0.55+0.3*r.Float64())
	wall2 := wall.scale(0.7 + 0.15*r.Float64())
	lightX := W * (0.1 + 0.8*r.Float64())
	// Wall with a light fall-off.
	for y := range h {
		i := y * img.Stride
		for x := 0; x < w; x, i = x+1, i+4 {
			d := math.Abs(float64(x)-lightX)/W + 0.3*float64(y)/H
			c := wall.mix(wall2, clamp01(d))
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = clamp8(c.r), clamp8(c.g), clamp8(c.b), 255
		}
	}
	// A window or a door frame behind.
	if r.IntN(2) == 0 {
		wx := W * (0.05 + 0.6*r.Float64())
		win := box{wx, H * 0.08, wx + W*0.32, H * 0.5}
		p.fill(roundRectSD(win.x0-W*0.02, win.y0-W*0.02, win.x1+W*0.02, win.y1+W*0.02, 4), win.grow(W*0.03), hex(0xF4F2EE), 0.9, 2)
		p.paint(roundRectSD(win.x0, win.y0, win.x1, win.y1, 2), win.grow(2), func(x, y float64) rgb {
			return hex(0xDCEBFA).mix(hex(0xFFFFFF), (y-win.y0)/(win.y1-win.y0))
		}, 1, 1)
		p.rect(box{(win.x0+win.x1)/2 - W*0.008, win.y0, (win.x0+win.x1)/2 + W*0.008, win.y1}, hex(0xF4F2EE), 1)
		p.rect(box{win.x0, (win.y0+win.y1)/2 - W*0.008, win.x1, (win.y0+win.y1)/2 + W*0.008}, hex(0xF4F2EE), 1)
	} else {
		dx := W * (0.55 + 0.3*r.Float64())
		door := wall.mix(hex(0x8B6A4E), 0.7)
		p.fill(roundRectSD(dx, H*0.05, dx+W*0.38, H*1.1, 3), box{dx - 4, H*0.05 - 4, dx + W*0.38 + 4, H}, door.scale(1.1), 1, 1)
		p.fill(roundRectSD(dx+W*0.03, H*0.08, dx+W*0.35, H*1.1, 3), box{dx, H * 0.07, dx + W*0.38, H}, door, 1, 1)
	}
	// A picture or a shelf.
	if r.IntN(2) == 0 {
		px := W * (0.05 + 0.7*r.Float64())
		p.fill(roundRectSD(px, H*0.12, px+W*0.2, H*0.28, 2), box{px - 2, H*0.12 - 2, px + W*0.2 + 2, H*0.28 + 2}, hex(0x3A3530), 1, 1)
		art := hsl(r.Float64()*360, 0.4, 0.55)
		p.paint(roundRectSD(px+6, H*0.12+6, px+W*0.2-6, H*0.28-6, 1), box{px, H * 0.12, px + W*0.2, H * 0.28}, func(x, y float64) rgb {
			return art.mix(hex(0xF0E6D0), 0.5+0.5*math.Sin(x*0.05+y*0.03))
		}, 1, 1)
	}
	// The person, slightly off centre and tilted towards the camera.
	cx := W * (0.45 + 0.1*r.Float64())
	cy := H * (0.38 + 0.06*r.Float64())
	drawPerson(p, cx, cy, W*(0.25+0.04*r.Float64()), l)
	grade(img, W/2, H*0.45, 1.04, 0.9, 2, r.Uint64())
	return img
}
