package sample

import (
	"encoding/binary"
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
			// The side away from the light falls into shadow.
			f -= 0.18 * smoothstep(0.3, 1.05, (x-cx)/rx)
			return base.scale(f)
		}
	}
	hairCol := shadeHair(l.hair, cx, cy, rx, ry)
	behind := func(x, y float64) rgb { return hairCol(x, y).scale(0.82) }

	// Hair that falls behind the head and shoulders.
	switch l.hairStyle {
	case hairLong:
		sd := roundRectSD(cx-1.16*rx, cy-1.0*ry, cx+1.16*rx, cy+1.5*ry, 1.0*rx)
		p.paint(sd, box{cx - 1.2*rx, cy - 1.05*ry, cx + 1.2*rx, cy + 1.55*ry}, behind, 1, 1)
	case hairBun:
		p.paint(ellipseSD(cx+0.1*rx, cy-1.02*ry, 0.42*rx, 0.32*ry), ellipseBox(cx+0.1*rx, cy-1.02*ry, 0.42*rx, 0.32*ry), hairCol, 1, 1)
	}

	// Neck, the shadow under the chin, the chest inside the neckline.
	p.paint(roundRectSD(cx-0.34*rx, cy+0.3*ry, cx+0.34*rx, cy+1.4*ry, 0.2*rx), box{cx - 0.36*rx, cy + 0.28*ry, cx + 0.36*rx, cy + 1.42*ry}, func(x, y float64) rgb {
		return skin.scale(0.86 - 0.08*math.Abs(x-cx)/rx)
	}, 1, 1)
	p.fill(ellipseSD(cx, cy+0.78*ry, 0.4*rx, 0.16*ry), ellipseBox(cx, cy+0.78*ry, 0.4*rx, 0.16*ry), skin.scale(0.55), 0.45, 0.12*rx)
	nly := cy + 1.16*ry // neckline centre
	p.fill(ellipseSD(cx, nly, 0.46*rx, 0.3*ry), ellipseBox(cx, nly, 0.46*rx, 0.3*ry), skin.scale(0.84), 1, 1)

	// Shoulders in a crew-neck top, lit from the left.
	trx := 3.2 * rx
	// The shoulder line: level at the neck, sloping down to the shoulders,
	// then falling away along the arms.
	torso := curveSD(func(x float64) float64 {
		u := math.Abs(x-cx) / rx
		y := 1.18 + 0.5*smoothstep(0.3, 2.1, u)
		if u > 2.0 {
			y += (u - 2.0) * (u - 2.0) * 1.6
		}
		return cy + y*ry
	})
	neckline := ellipseSD(cx, nly, 0.44*rx, 0.28*ry)
	p.paint(subtract(torso, neckline), box{cx - trx, cy + 1.1*ry, cx + trx, cy + 6*ry}, func(x, y float64) rgb {
		dx := (x - cx) / trx
		return l.shirt.scale(1.04 - 0.25*dx*dx - 0.12*smoothstep(-0.2, 0.9, dx) - 0.05*(y-cy-1.5*ry)/ry)
	}, 1, 1)
	rim := subtract(ellipseSD(cx, nly, 0.5*rx, 0.33*ry), neckline)
	p.fill(intersect(rim, torso), ellipseBox(cx, nly, 0.5*rx, 0.33*ry), l.shirt.scale(0.72), 1, 1)

	// Ears, head.
	for _, side := range []float64{-1, 1} {
		ex := cx + side*0.96*rx
		p.fill(ellipseSD(ex, cy+0.08*ry, 0.16*rx, 0.22*ry), ellipseBox(ex, cy+0.08*ry, 0.16*rx, 0.22*ry), skin.scale(0.9), 1, 1)
		p.fill(ellipseSD(ex+side*0.02*rx, cy+0.08*ry, 0.07*rx, 0.13*ry), ellipseBox(ex, cy+0.08*ry, 0.1*rx, 0.15*ry), skin.scale(0.72), 0.6, 2)
	}
	head := headSD(cx, cy, rx, ry)
	p.paint(head, ellipseBox(cx, cy, rx, ry).grow(2), shadeSkin(skin), 1, 1)
	for _, side := range []float64{-1, 1} {
		p.fill(ellipseSD(cx+side*0.5*rx, cy+0.32*ry, 0.22*rx, 0.12*ry), ellipseBox(cx+side*0.5*rx, cy+0.32*ry, 0.22*rx, 0.12*ry), hex(0xD06A6A), 0.07, 0.18*rx)
	}

	// Beard: stubble over the lower face.
	if l.beard {
		lower := intersect(head, belowSD(func(x float64) float64 {
			dx := (x - cx) / rx
			return cy + 0.3*ry - 0.22*ry*(1-dx*dx)
		}))
		p.fill(lower, ellipseBox(cx, cy, rx, ry), l.hair.scale(0.85), 0.5, 0.05*rx)
	}

	// Eyes.
	for _, side := range []float64{-1, 1} {
		ex, ey := cx+side*0.36*rx, cy+0.02*ry
		p.fill(ellipseSD(ex, ey-0.045*ry, 0.2*rx, 0.08*ry), ellipseBox(ex, ey-0.045*ry, 0.2*rx, 0.08*ry), skin.scale(0.8), 0.3, 0.06*rx)
		sclera := ellipseSD(ex, ey, 0.155*rx, 0.06*ry)
		sb := ellipseBox(ex, ey, 0.155*rx, 0.06*ry).grow(2)
		p.fill(sclera, sb, hex(0xEDE7E1), 1, 1)
		ix := ex + 0.01*rx
		p.fill(intersect(sclera, ellipseSD(ix, ey, 0.072*rx, 0.072*rx)), sb, l.eyes, 1, 1)
		p.fill(intersect(sclera, ellipseSD(ix, ey, 0.033*rx, 0.033*rx)), sb, hex(0x111111), 1, 1)
		p.fill(ellipseSD(ix-0.022*rx, ey-0.022*rx, 0.013*rx, 0.013*rx), sb, hex(0xFFFFFF), 0.85, 1)
		var lid [][2]float64
		for t := -1.0; t <= 1.0001; t += 0.25 {
			lid = append(lid, [2]float64{ex + t*0.17*rx, ey - 0.06*ry*math.Sqrt(1-0.8*t*t) - 0.004*ry})
		}
		p.stroke(lid, math.Max(1, 0.03*rx), hex(0x2A1E18), 0.85)
		var brow [][2]float64
		for t := 0.0; t <= 1.0001; t += 0.2 {
			x := cx + side*(0.16+0.4*t)*rx
			brow = append(brow, [2]float64{x, cy - 0.19*ry - 0.045*ry*math.Sin(math.Pi*(0.25+0.75*t))})
		}
		p.stroke(brow, math.Max(1.5, 0.06*rx), l.hair.scale(0.75).mix(skin, 0.2), 0.85)
	}

	// Nose: a soft shadow down the shaded side, a lit tip and nostrils.
	p.fill(ellipseSD(cx+0.08*rx, cy+0.22*ry, 0.045*rx, 0.17*ry), ellipseBox(cx+0.08*rx, cy+0.22*ry, 0.05*rx, 0.18*ry), skin.scale(0.62), 0.22, 0.07*rx)
	p.fill(ellipseSD(cx, cy+0.4*ry, 0.15*rx, 0.06*ry), ellipseBox(cx, cy+0.4*ry, 0.15*rx, 0.06*ry), skin.scale(0.7), 0.25, 0.06*rx)
	p.fill(ellipseSD(cx-0.01*rx, cy+0.36*ry, 0.08*rx, 0.05*ry), ellipseBox(cx, cy+0.36*ry, 0.1*rx, 0.06*ry), skin.scale(1.1), 0.45, 0.05*rx)
	for _, side := range []float64{-1, 1} {
		p.fill(ellipseSD(cx+side*0.075*rx, cy+0.42*ry, 0.04*rx, 0.02*ry), ellipseBox(cx+side*0.075*rx, cy+0.42*ry, 0.05*rx, 0.03*ry), skin.scale(0.45), 0.7, 1)
	}

	// Mouth: lips, the line between them, a shadow under the lower lip.
	my := cy + 0.62*ry
	p.fill(ellipseSD(cx, my+0.05*ry, 0.16*rx, 0.03*ry), ellipseBox(cx, my+0.05*ry, 0.16*rx, 0.03*ry), skin.scale(0.7), 0.3, 0.05*rx)
	p.fill(ellipseSD(cx, my+0.008*ry, 0.23*rx, 0.048*ry), ellipseBox(cx, my, 0.23*rx, 0.06*ry), l.lips, 0.9, 1)
	var mouth [][2]float64
	for t := -1.0; t <= 1.0001; t += 0.2 {
		mouth = append(mouth, [2]float64{cx + t*0.24*rx, my - l.smile*0.045*ry*(t*t) + l.smile*0.01*ry})
	}
	p.stroke(mouth, math.Max(1, 0.022*rx), l.lips.scale(0.5), 0.9)

	// Hair on top: a cap that follows the skull, cut by the hairline.
	var top sdf
	var hairline func(dx float64) float64 // in units of ry below cy
	switch l.hairStyle {
	case hairCropped:
		top = ellipseSD(cx, cy-0.06*ry, 1.02*rx, 0.97*ry)
		hairline = func(dx float64) float64 { return -0.62 + 0.5*smoothstep(0.6, 1.0, math.Abs(dx)) }
	case hairCurly:
		base := ellipseSD(cx, cy-0.14*ry, 1.15*rx, 1.0*ry)
		top = func(x, y float64) float64 {
			a := math.Atan2(y-cy, x-cx)
			return base(x, y) + 0.035*rx*math.Sin(a*16)
		}
		hairline = func(dx float64) float64 { return -0.5 + 0.45*smoothstep(0.55, 1.0, math.Abs(dx)) }
	default: // short, long, bun
		top = ellipseSD(cx, cy-0.1*ry, 1.06*rx, 0.98*ry)
		part := l.part
		long := l.hairStyle == hairLong
		hairline = func(dx float64) float64 {
			h := -0.56 + 0.48*smoothstep(0.6, 1.0, math.Abs(dx))
			// A fringe swept away from the parting.
			h += 0.09 * smoothstep(0.9, 0, math.Abs(dx-part*0.5)) * (1 - dx*dx)
			if long && math.Abs(dx) > 0.82 {
				h += 0.5 * smoothstep(0.82, 1.0, math.Abs(dx)) // side hair over the ears
			}
			return h
		}
	}
	if l.hairStyle == hairCropped {
		p.paint(subtract(top, belowSD(func(x float64) float64 { return cy + hairline((x-cx)/rx)*ry })), ellipseBox(cx, cy, 1.1*rx, ry), hairCol, 0.9, 1)
	} else {
		p.paint(subtract(top, belowSD(func(x float64) float64 { return cy + hairline((x-cx)/rx)*ry })), ellipseBox(cx, cy-0.1*ry, 1.25*rx, 1.1*ry), hairCol, 1, 1)
	}

	// Glasses: two frames and a bridge.
	if l.glasses {
		frame := hex(0x222222)
		for _, side := range []float64{-1, 1} {
			ex, ey := cx+side*0.37*rx, cy+0.03*ry
			outer := roundRectSD(ex-0.26*rx, ey-0.14*ry, ex+0.26*rx, ey+0.13*ry, 0.1*rx)
			inner := roundRectSD(ex-0.23*rx, ey-0.115*ry, ex+0.23*rx, ey+0.105*ry, 0.08*rx)
			bb := box{ex - 0.3*rx, ey - 0.2*ry, ex + 0.3*rx, ey + 0.2*ry}
			p.fill(inner, bb, hex(0xDDE8F0), 0.08, 1)
			p.fill(subtract(outer, inner), bb, frame, 0.95, 1)
		}
		p.stroke([][2]float64{{cx - 0.11*rx, cy - 0.01*ry}, {cx, cy - 0.03*ry}, {cx + 0.11*rx, cy - 0.01*ry}}, 0.04*rx, frame, 0.95)
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
		// Strands radiate from the crown.
		u := (x - cx) / (y - cy + 1.6*ry + 1)
		f := 1.15 - 0.3*math.Sqrt(dx*dx+dy*dy) + 0.03*fastSin(u*70) + 0.015*fastSin(u*170)
		return c.scale(f)
	}
}

// renderSelfie draws a selfie: a room behind, the person large and a little
// off centre, lit from a window, with sensor grain.
//
//go:norace
func renderSelfie(r *rand.Rand, l look, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	p := newPainter(img)
	W, H := float64(w), float64(h)
	wall := hsl(r.Float64()*360, 0.08+0.2*r.Float64(), 0.55+0.3*r.Float64())
	wall2 := wall.scale(0.7 + 0.15*r.Float64())
	lightX := W * (0.1 + 0.8*r.Float64())
	// Wall with a light fall-off.
	var lut [257]uint32
	for k := range lut {
		c := wall.mix(wall2, float64(k)/256)
		lut[k] = uint32(clamp8(c.r)) | uint32(clamp8(c.g))<<8 | uint32(clamp8(c.b))<<16 | 255<<24
	}
	dx := make([]int, w)
	for x := range dx {
		dx[x] = int(math.Abs(float64(x)-lightX) / W * 256)
	}
	for y := range h {
		dy := int(0.3 * float64(y) / H * 256)
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for x := range w {
			binary.LittleEndian.PutUint32(row[x*4:x*4+4], lut[min(dx[x]+dy, 256)])
		}
	}
	// A window or a door frame behind.
	hasDoor := r.IntN(2) == 1
	pictureX := W * (0.03 + 0.1*r.Float64()) // left of the door
	if !hasDoor {
		wx := W * (0.05 + 0.6*r.Float64())
		if wx < W*0.35 {
			pictureX = W * (0.7 + 0.07*r.Float64())
		} else {
			pictureX = W * (0.02 + (wx/W-0.35)*0.5)
		}
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
	// A picture on the wall, clear of the window or door.
	if r.IntN(2) == 0 {
		px := pictureX
		p.fill(roundRectSD(px, H*0.12, px+W*0.2, H*0.28, 2), box{px - 2, H*0.12 - 2, px + W*0.2 + 2, H*0.28 + 2}, hex(0x3A3530), 1, 1)
		art := hsl(r.Float64()*360, 0.4, 0.55)
		p.paint(roundRectSD(px+6, H*0.12+6, px+W*0.2-6, H*0.28-6, 1), box{px, H * 0.12, px + W*0.2, H * 0.28}, func(x, y float64) rgb {
			return art.mix(hex(0xF0E6D0), 0.5+0.5*math.Sin(x*0.05+y*0.03))
		}, 1, 1)
	}
	// The person, slightly off centre and tilted towards the camera.
	cx := W * (0.45 + 0.1*r.Float64())
	cy := H * (0.39 + 0.05*r.Float64())
	drawPerson(p, cx, cy, W*(0.19+0.03*r.Float64()), l)
	grade(img, W/2, H*0.45, 1.04, 0.9, 1, r.Uint64())
	return img
}
