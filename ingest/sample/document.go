package sample

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Document sizes in layout units; a document is drawn at s pixels per unit.
const (
	cardW, cardH = 1000.0, 630.0 // ID-1 (85.6 × 54 mm)
	pageW, pageH = 1000.0, 700.0 // passport data page (125 × 88 mm)
)

var months = [...]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// kit holds what one goroutine reuses between documents: the font faces,
// which are not safe for concurrent use.
type kit struct {
	fs faces
}

func newKit() *kit { return &kit{fs: faces{}} }

// docArt draws one document side: layout units in, pixels out.
type docArt struct {
	p       *painter
	s       float64
	kit     *kit
	fs      faces
	back    bool
	scanned bool
	c       *country
	per     person
	lk      look
	r       *rand.Rand
	w, h    float64
	accent  rgb
}

func (d *docArt) text(id fontID, size, x, y float64, al align, str string, col rgb) float64 {
	return d.p.text(d.fs.get(id, size*d.s), x*d.s, y*d.s, al, str, col, 1) / d.s
}

// fitText draws str no wider than maxW units, shrinking the font if needed.
func (d *docArt) fitText(id fontID, size, maxW, x, y float64, al align, str string, col rgb) {
	if w := textWidth(d.fs.get(id, size*d.s), str) / d.s; w > maxW {
		size *= maxW / w
	}
	d.text(id, size, x, y, al, str, col)
}

var (
	inkLabel = hex(0x3B4A66)
	inkValue = hex(0x161616)
)

func (d *docArt) label(x, y float64, s string) {
	d.text(fontRegular, 13, x, y, alignLeft, s, inkLabel)
}

func (d *docArt) value(x, y, size, maxW float64, s string) {
	d.fitText(fontBold, size, maxW, x, y, alignLeft, s, inkValue)
}

func (d *docArt) field(x, y, maxW float64, lbl, val string) {
	d.label(x, y, lbl)
	d.value(x, y+27, 23, maxW, val)
}

func (d *docArt) date(t time.Time) string {
	if d.per.docType == Passport {
		return fmt.Sprintf("%02d %s %d", t.Day(), months[t.Month()-1], t.Year())
	}
	return t.Format("02.01.2006")
}

func (d *docArt) b(x0, y0, x1, y1 float64) box { return box{x0 * d.s, y0 * d.s, x1 * d.s, y1 * d.s} }

// background paints the document base: a diagonal gradient in the
// document's colours with the guilloche (two families of fine wavy lines and
// a rosette) printed over it, inside a rounded rectangle. The guilloche is
// shared by all documents of one size (mirrored on the back); only the
// colours differ, as on real documents of one series.
//
//go:norace
func (d *docArt) background(c1, c2, line rgb, radius float64) {
	img := d.p.img
	wpx, hpx := img.Rect.Dx(), img.Rect.Dy()
	s := d.s
	gm := guillocheFor(wpx, hpx, s, d.w, d.h)
	corner := roundRectSD(0, 0, d.w*s, d.h*s, radius*s)
	// Fixed point: the gradient parameter t in 1/65536, colours in 0..255.
	gx := make([]int32, wpx)
	for x := range gx {
		gx[x] = int32(65536 * 0.65 * (float64(x) + 0.5) / s / d.w)
	}
	r1, g1, b1 := int32(clamp8(c1.r)), int32(clamp8(c1.g)), int32(clamp8(c1.b))
	dr, dg, db := int32(clamp8(c2.r))-r1, int32(clamp8(c2.g))-g1, int32(clamp8(c2.b))-b1
	lr, lg, lb := int32(clamp8(line.r)), int32(clamp8(line.g)), int32(clamp8(line.b))
	edge := int(radius*s) + 1
	for y := range hpx {
		row := img.Pix[y*img.Stride : y*img.Stride+wpx*4]
		arow := gm[y*wpx : (y+1)*wpx]
		edgeRow := y < edge || y >= hpx-edge
		ty := int32(65536 * 0.35 * (float64(y) + 0.5) / s / d.h)
		for x := range wpx {
			ax := x
			if d.back {
				ax = wpx - 1 - x
			}
			t := ty + gx[x]
			a := int32(arow[ax])
			a += a >> 7 // 0..256
			r := r1 + dr*t>>16
			g := g1 + dg*t>>16
			b := b1 + db*t>>16
			r += (lr - r) * a >> 8
			g += (lg - g) * a >> 8
			b += (lb - b) * a >> 8
			px := row[x*4 : x*4+4 : x*4+4]
			px[0], px[1], px[2], px[3] = uint8(r), uint8(g), uint8(b), 255
			if edgeRow || x < edge || x >= wpx-edge {
				cov := clamp01(0.5 - corner(float64(x)+0.5, float64(y)+0.5))
				if cov == 1 {
					continue
				}
				if d.scanned { // the scanner bed shows past the rounded corners
					blend(row, x*4, scannerBed, 1-cov)
					continue
				}
				// premultiplied: transparent outside
				px[0], px[1], px[2], px[3] = uint8(float64(r)*cov), uint8(float64(g)*cov), uint8(float64(b)*cov), uint8(255*cov)
			}
		}
	}
}

// The guilloche maps, one per pixel size and scale, are computed once per
// process and shared (read only).
var guilloches sync.Map // guillocheKey → *guillocheMap

type guillocheKey struct {
	w, h int
	s    float64
}

type guillocheMap struct {
	once sync.Once
	a    []uint8
}

func guillocheFor(wpx, hpx int, s, w, h float64) []uint8 {
	v, _ := guilloches.LoadOrStore(guillocheKey{wpx, hpx, s}, &guillocheMap{})
	m := v.(*guillocheMap)
	m.once.Do(func() { m.a = drawGuilloche(wpx, hpx, s, w, h) })
	return m.a
}

// drawGuilloche returns the line coverage (0..255) of the pattern: two
// families of wavy lines y + w(x) = k·period and a rosette whose rings are
// modulated by cos 9θ and cos 14θ.
//
//go:norace
func drawGuilloche(wpx, hpx int, s, w, h float64) []uint8 {
	out := make([]uint8, wpx*hpx)
	const p1, p2, off = 13.0, 18.0, 1300.0 // the offset keeps values positive: int() is floor
	w1 := make([]float64, wpx)
	w2 := make([]float64, wpx)
	for x := range wpx {
		u := (float64(x) + 0.5) / s
		w1[x] = (off + 9*math.Sin(u*0.021+1.3)*(1+0.4*math.Sin(u*0.0051))) / p1
		w2[x] = (off + 12*math.Sin(u*0.016+4.1) - u*0.12) / p2
	}
	lw := math.Max(0.55, 0.45*s) // line half width in pixels
	k1, k2, k3 := p1*s/lw/2, p2*s/lw/2, 8*s/lw/2
	rcx, rcy, rr := 0.78*w, 0.58*h, 0.36*h
	for y := range hpx {
		fy := (float64(y) + 0.5) / s
		v1y, v2y := fy/p1, fy/p2
		dy := fy - rcy
		row := out[y*wpx : (y+1)*wpx]
		for x := range wpx {
			fx := (float64(x) + 0.5) / s
			v1 := v1y + w1[x]
			f1 := v1 - float64(int(v1)) - 0.5 // the distance to the nearest line is 0.5-|f1|
			a := 0.13 * max(0, 1-(0.5-math.Abs(f1))*k1)
			v2 := v2y + w2[x]
			f2 := v2 - float64(int(v2)) - 0.5
			a += 0.1 * max(0, 1-(0.5-math.Abs(f2))*k2)
			if dx := fx - rcx; dx*dx+dy*dy < rr*rr {
				rad := math.Sqrt(dx*dx+dy*dy) + 1e-9
				// cos 9θ and cos 14θ from powers of the unit vector.
				zr, zi := dx/rad, dy/rad
				z2r, z2i := zr*zr-zi*zi, 2*zr*zi
				z4r, z4i := z2r*z2r-z2i*z2i, 2*z2r*z2i
				z8r, z8i := z4r*z4r-z4i*z4i, 2*z4r*z4i
				c9 := z8r*zr - z8i*zi
				z12r, z12i := z8r*z4r-z8i*z4i, z8r*z4i+z8i*z4r
				c14 := z12r*z2r - z12i*z2i
				v3 := (rad+6*c9+3*c14)/8 + 100
				f3 := v3 - float64(int(v3)) - 0.5
				a += 0.17 * max(0, 1-(0.5-math.Abs(f3))*k3) * smoothstep(rr, rr*0.6, rad)
			}
			row[x] = clamp8(255 * a)
		}
	}
	return out
}

// euFlag draws the EU emblem with the country code, as on EU ID cards and
// driving licences.
func (d *docArt) euFlag(x, y, w, h float64, code string) {
	s := d.s
	d.p.fill(roundRectSD(x*s, y*s, (x+w)*s, (y+h)*s, 3*s), d.b(x, y, x+w, y+h).grow(2), hex(0x003399), 1, 1)
	cx, cy, r := x+w/2, y+h/2, h*0.34
	for k := range 12 {
		a := float64(k) * math.Pi / 6
		sx, sy := cx+r*math.Cos(a), cy+r*math.Sin(a)
		d.p.fill(starSD(sx*s, sy*s, h*0.055*s), d.b(sx-h*0.07, sy-h*0.07, sx+h*0.07, sy+h*0.07), hex(0xFFCC00), 1, 1)
	}
	d.text(fontBold, h*0.3, cx, cy+h*0.11, alignCenter, code, hex(0xFFFFFF))
}

func starSD(cx, cy, r float64) sdf {
	return func(x, y float64) float64 {
		dx, dy := x-cx, y-cy
		a := math.Atan2(dy, dx) + math.Pi/2
		k := math.Mod(a+20*math.Pi, 2*math.Pi/5) - math.Pi/5
		rad := r * (0.55 + 0.45*math.Abs(k)/(math.Pi/5)*math.Abs(k)/(math.Pi/5))
		return math.Sqrt(dx*dx+dy*dy) - rad
	}
}

// crest draws a simple shield for passports and non-EU documents.
func (d *docArt) crest(cx, cy, h float64, col rgb) {
	s := d.s
	w := h * 0.8
	shield := func(x, y float64) float64 {
		u, v := x/s-cx, y/s-(cy-h/2)
		if v < h*0.45 {
			return math.Max(math.Abs(u)-w/2, math.Max(-v, v-h*0.45)) * s
		}
		return (math.Hypot(u, v-h*0.45)*1.0 - w/2 + (v-h*0.45)*0.55) * s
	}
	d.p.fill(shield, d.b(cx-w, cy-h, cx+w, cy+h), col, 1, 1)
	d.p.fill(ellipseSD(cx*s, (cy-h*0.05)*s, w*0.22*s, h*0.2*s), d.b(cx-w, cy-h, cx+w, cy+h), hex(0xE8C66A), 1, 1)
}

// portrait draws the holder's picture in a box, in colour or laser-engraved
// grey, and returns it for the ghost image.
func (d *docArt) portrait(x, y, w, h float64, grey bool) *image.RGBA {
	s := d.s
	pw, ph := int(w*s), int(h*s)
	img := image.NewRGBA(image.Rect(0, 0, pw, ph))
	p := newPainter(img)
	bg1, bg2 := hex(0xE4EAF0), hex(0xC9D3DE)
	if d.r.IntN(2) == 0 {
		bg1, bg2 = hex(0xF1F1EE), hex(0xD9DAD6)
	}
	p.paint(func(float64, float64) float64 { return -10 }, box{0, 0, float64(pw), float64(ph)}, func(_, y float64) rgb {
		return bg1.mix(bg2, y/float64(ph))
	}, 1, 1)
	drawPerson(p, float64(pw)*0.5, float64(ph)*0.4, float64(pw)*0.27, d.lk)
	over(d.p.img, img, int(x*s), int(y*s), 1, grey)
	return img
}

// ghost draws a small, faint copy of the portrait.
func (d *docArt) ghost(src *image.RGBA, x, y, w float64) {
	s := d.s
	k := float64(src.Rect.Dx()) / (w * s)
	dw, dh := int(w*s), int(float64(src.Rect.Dy())/k)
	grey := image.NewRGBA(src.Rect)
	over(grey, src, 0, 0, 1, true)
	ox, oy := int(x*s), int(y*s)
	warpOver(d.p.img, image.Rect(ox, oy, ox+dw, oy+dh), grey, [6]float64{k, 0, -float64(ox) * k, 0, k, -float64(oy) * k}, 0.22)
}

// hologram lays a faint iridescent oval over part of the card.
func (d *docArt) hologram(cx, cy, rx, ry float64) {
	s := d.s
	ring := subtract(ellipseSD(cx*s, cy*s, rx*s, ry*s), ellipseSD(cx*s, cy*s, rx*0.82*s, ry*0.82*s))
	d.p.paint(ring, d.b(cx-rx, cy-ry, cx+rx, cy+ry), func(x, y float64) rgb {
		return hsl((x+y)/s*0.9, 0.6, 0.7)
	}, 0.09, 4*s)
}

// signature writes a handwritten-looking signature: a tall initial, a run of
// cursive loops of varying height, slanted, and an underline flourish. Its
// shape is derived from the holder, so the same person signs the same way.
func (d *docArt) signature(x, y, w float64) {
	s := d.s
	seed := uint64(d.per.dob.Unix())
	for _, c := range d.per.last + d.per.first {
		seed = seed*31 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, 3))
	var pts [][2]float64
	add := func(px, py float64) {
		px += (y - py) * 0.35 // slant
		pts = append(pts, [2]float64{px * s, py * s})
	}
	cx := x
	// Initial: one tall loop.
	h := 34 + 10*r.Float64()
	lw := 16 + 6*r.Float64()
	for t := 0.0; t <= 1.0001; t += 0.02 {
		a := 2 * math.Pi * t
		add(cx+lw*t-lw*0.45*math.Sin(a), y-h*(1-math.Cos(a))/2)
	}
	cx += lw
	// Cursive body: loops and humps.
	n := 5 + r.IntN(4)
	step := (w*0.8 - lw) / float64(n)
	for range n {
		h := 6 + 16*r.Float64()*r.Float64()
		loop := r.IntN(3) > 0
		for t := 0.04; t <= 1.0001; t += 0.04 {
			a := 2 * math.Pi * t
			if loop {
				add(cx+step*t-step*0.35*math.Sin(a), y-h*(1-math.Cos(a))/2)
			} else {
				add(cx+step*t, y-h*math.Sin(math.Pi*t))
			}
		}
		cx += step
	}
	// Flourish back under the name.
	end := pts[len(pts)-1]
	ex, ey := end[0]/s, end[1]/s
	for t := 0.05; t <= 1.0001; t += 0.05 {
		pts = append(pts, [2]float64{(ex + (x-10-ex)*t + 8*math.Sin(math.Pi*t)) * s, (ey + 12*math.Sin(math.Pi*t) + 4*t) * s})
	}
	d.p.stroke(pts, math.Max(1.2, 2.0*s), hex(0x1B2A6B), 1)
}

// barcode draws PDF417-like rows of bars.
func (d *docArt) barcode(x, y, w, h float64, rows int) {
	s := d.s
	d.p.rect(d.b(x-8, y-8, x+w+8, y+h+8), hex(0xFFFFFF), 0.85)
	mod := 2.4
	rh := h / float64(rows)
	for row := range rows {
		cx := x
		black := true
		for cx < x+w {
			bw := mod * float64(1+d.r.IntN(4))
			if cx+bw > x+w {
				bw = x + w - cx
			}
			if black {
				d.p.rect(box{cx * s, (y + float64(row)*rh) * s, (cx + bw) * s, (y + float64(row+1)*rh) * s}, hex(0x111111), 1)
			}
			black = !black
			cx += bw
		}
	}
}

func (d *docArt) mrz(lines []string, x, y, lineH, size float64) {
	for i, l := range lines {
		d.text(fontMono, size, x, y+float64(i)*lineH, alignLeft, l, hex(0x111111))
	}
}

// header draws the state and document names across the top.
func (d *docArt) header(x0 float64, titleEN string) {
	c := d.c
	title := c.titles[d.per.docType]
	right := d.w - 40
	tw := 0.0
	if title != "" && title != titleEN {
		d.fitText(fontBold, 22, 380, right, 44, alignRight, title, d.accent)
		d.text(fontRegular, 15, right, 66, alignRight, titleEN, d.accent)
		tw = math.Max(textWidth(d.fs.get(fontBold, 22*d.s), title)/d.s, 200)
	} else {
		d.text(fontBold, 22, right, 52, alignRight, titleEN, d.accent)
		tw = textWidth(d.fs.get(fontBold, 22*d.s), titleEN) / d.s
	}
	avail := right - tw - 30 - x0
	if c.native != "" {
		d.fitText(fontBold, 24, avail, x0, 44, alignLeft, c.native, d.accent)
		d.fitText(fontRegular, 15, avail, x0, 66, alignLeft, c.global, d.accent)
	} else {
		d.fitText(fontBold, 20, avail, x0, 52, alignLeft, c.global, d.accent)
	}
	d.p.rect(d.b(30, 82, d.w-30, 84), d.accent, 0.6)
}

func (d *docArt) specimen(x, y float64) {
	d.text(fontBold, 15, x, y, alignLeft, "SPECIMEN", hex(0xB03A2E))
}

func (d *docArt) title() string {
	switch d.per.docType {
	case Passport:
		return "PASSPORT"
	case DriverLicense:
		return "DRIVING LICENCE"
	case ResidencePermit:
		return "RESIDENCE PERMIT"
	}
	return "IDENTITY CARD"
}

func (d *docArt) palette(back bool) (c1, c2, line rgb) {
	h := d.c.hue
	switch d.per.docType {
	case DriverLicense:
		c1, c2, line = hsl(345, 0.55, 0.9), hsl(20, 0.45, 0.86), hsl(330, 0.35, 0.62)
	case ResidencePermit:
		c1, c2, line = hsl(h+150, 0.3, 0.9), hsl(h+190, 0.3, 0.84), hsl(h+170, 0.35, 0.55)
	case Passport:
		c1, c2, line = hsl(h+60, 0.3, 0.93), hsl(h+100, 0.3, 0.86), hsl(h+80, 0.35, 0.6)
	default:
		c1, c2, line = hsl(h, 0.4, 0.9), hsl(h+35, 0.4, 0.83), hsl(h+10, 0.4, 0.56)
	}
	if back {
		c1, c2 = c2.mix(hex(0xFFFFFF), 0.3), c1
	}
	return
}

// scannerBed is the background around a scanned document's rounded corners.
var scannerBed = hex(0xEBEBE8)

// newDocArt starts a document side at scale s: on the scanner bed when
// scanned, transparent outside the document otherwise.
func newDocArt(k *kit, back, scanned bool, c *country, per person, lk look, r *rand.Rand, s float64) (*docArt, *image.RGBA) {
	w, h := cardW, cardH
	if per.docType == Passport {
		w, h = pageW, pageH
	}
	img := image.NewRGBA(image.Rect(0, 0, int(w*s+0.5), int(h*s+0.5)))
	d := &docArt{p: newPainter(img), s: s, kit: k, fs: k.fs, back: back, scanned: scanned, c: c, per: per, lk: lk, r: r, w: w, h: h, accent: hsl(c.ink, 0.55, 0.28)}
	if per.docType == DriverLicense {
		d.accent = hsl(220, 0.6, 0.3)
	}
	return d, img
}

// renderFront draws the front of the document (the data page of a passport)
// at s pixels per unit: scanned (on the scanner bed) or cut out (transparent
// outside its rounded corners).
func renderFront(k *kit, c *country, per person, lk look, r *rand.Rand, s float64, scanned bool) *image.RGBA {
	d, img := newDocArt(k, false, scanned, c, per, lk, r, s)
	c1, c2, line := d.palette(false)
	grey := strings.Contains("DE LT EE PL NL", c.code) && per.docType != Passport
	switch per.docType {
	case Passport:
		d.background(c1, c2, line, 26)
		d.crest(60, 50, 56, d.accent)
		d.header(100, "PASSPORT")
		d.label(330, 112, "TYPE")
		d.label(430, 112, "CODE")
		d.label(600, 112, "PASSPORT NO.")
		d.value(330, 139, 23, 80, "P")
		d.value(430, 139, 23, 150, strings.TrimRight(c.alpha3, "<"))
		d.text(fontBold, 26, 600, 140, alignLeft, per.docNumber, hex(0x9E1B1B))
		face := d.portrait(40, 110, 260, 340, false)
		d.field(330, 172, 620, "SURNAME", strings.ToUpper(per.last))
		d.field(330, 225, 620, "GIVEN NAMES", strings.ToUpper(per.first))
		d.field(330, 278, 280, "NATIONALITY", per.natName)
		if per.personalCode != "" {
			d.field(640, 278, 300, "PERSONAL NO.", per.personalCode)
		}
		d.field(330, 331, 280, "DATE OF BIRTH", d.date(per.dob))
		d.field(640, 331, 120, "SEX", mrzSex(per))
		d.field(330, 384, 280, "PLACE OF BIRTH", per.birthplace)
		d.field(640, 384, 300, "DATE OF ISSUE", d.date(per.issued))
		d.field(330, 437, 280, "DATE OF EXPIRY", d.date(per.expires))
		d.field(640, 437, 320, "AUTHORITY", c.authority)
		d.label(40, 478, "HOLDER'S SIGNATURE")
		d.signature(60, 515, 220)
		d.ghost(face, 880, 130, 80)
		d.hologram(230, 420, 120, 70)
		d.specimen(830, 112)
		d.p.rect(d.b(0, 560, d.w, d.h), hex(0xFFFFFF), 0.55)
		m := td3(per, padMRZ(c.alpha3, 3))
		d.mrz(m[:], 34, 615, 52, 33.5)
	case DriverLicense:
		d.background(c1, c2, line, 37)
		d.euFlagOrCrest(28, 18, 110, 74)
		d.header(160, "DRIVING LICENCE")
		face := d.portrait(40, 110, 250, 320, grey)
		x := 320.0
		rows := []struct{ n, v string }{
			{"1.", strings.ToUpper(per.last)},
			{"2.", strings.ToUpper(per.first)},
			{"3.", d.date(per.dob) + "  " + per.birthplace},
			{"4a.", d.date(per.issued)},
			{"4b.", d.date(per.expires)},
			{"4c.", c.authority},
		}
		if per.personalCode != "" {
			rows = append(rows, struct{ n, v string }{"4d.", per.personalCode})
		}
		rows = append(rows, struct{ n, v string }{"5.", per.docNumber})
		for i, row := range rows {
			y := 140 + float64(i)*44
			d.text(fontRegular, 16, x, y, alignLeft, row.n, inkLabel)
			d.value(x+42, y, 24, 600, row.v)
		}
		d.text(fontRegular, 16, 40, 478, alignLeft, "7.", inkLabel)
		d.signature(70, 490, 220)
		d.text(fontRegular, 16, x, 575, alignLeft, "9.", inkLabel)
		d.value(x+42, 575, 24, 500, strings.Join(per.categories, "/"))
		d.ghost(face, 860, 380, 80)
		d.hologram(280, 430, 110, 70)
		d.specimen(40, 600)
	default: // ID card, residence permit
		d.background(c1, c2, line, 37)
		d.euFlagOrCrest(28, 18, 110, 74)
		d.header(160, d.title())
		face := d.portrait(40, 110, 250, 320, grey)
		x := 320.0
		d.field(x, 118, 640, "SURNAME", strings.ToUpper(per.last))
		d.field(x, 170, 640, "GIVEN NAMES", strings.ToUpper(per.first))
		d.field(x, 222, 80, "SEX", mrzSex(per))
		d.field(x+90, 222, 160, "NATIONALITY", per.natName)
		d.field(x+280, 222, 240, "DATE OF BIRTH", d.date(per.dob))
		d.field(x, 274, 250, "DOCUMENT NO.", per.docNumber)
		d.field(x+280, 274, 240, "DATE OF EXPIRY", d.date(per.expires))
		if per.docType == ResidencePermit {
			d.field(x, 326, 520, "TYPE OF PERMIT", per.permitType)
			d.field(x, 378, 520, "REMARKS", "ACCESS TO LABOUR MARKET")
		} else {
			if per.personalCode != "" {
				d.field(x, 326, 250, "PERSONAL NO.", per.personalCode)
			}
			d.field(x+280, 326, 300, "PLACE OF BIRTH", per.birthplace)
			d.field(x, 378, 250, "DATE OF ISSUE", d.date(per.issued))
		}
		d.label(40, 468, "SIGNATURE")
		d.signature(60, 515, 220)
		d.text(fontMono, 15, d.w-40, 600, alignRight, "CAN "+pattern(d.r, "######"), inkValue)
		d.ghost(face, 850, 380, 90)
		d.hologram(270, 420, 110, 75)
		d.specimen(x, 600)
		if strings.Contains("EE DE", c.code) && per.docType == IDCard {
			d.chip(x+330, 420)
		}
	}
	return img
}

func (d *docArt) euFlagOrCrest(x, y, w, h float64) {
	if d.c.code == "GB" {
		d.crest(x+w/2, y+h/2, h*0.9, d.accent)
		return
	}
	d.euFlag(x, y, w, h, d.c.code)
}

// chip draws a contact chip.
func (d *docArt) chip(x, y float64) {
	s := d.s
	w, h := 100.0, 78.0
	d.p.paint(roundRectSD(x*s, y*s, (x+w)*s, (y+h)*s, 12*s), d.b(x, y, x+w, y+h).grow(2), func(px, py float64) rgb {
		return hex(0xE6C77A).mix(hex(0xB8913E), (px/s-x)/w*0.6+(py/s-y)/h*0.4)
	}, 1, 1)
	line := hex(0x8A6A2A)
	for _, v := range []float64{0.33, 0.66} {
		d.p.rect(d.b(x, y+h*v-1, x+w*0.35, y+h*v+1), line, 0.8)
		d.p.rect(d.b(x+w*0.65, y+h*v-1, x+w, y+h*v+1), line, 0.8)
	}
	d.p.fill(roundRectSD((x+w*0.35)*s, (y+h*0.2)*s, (x+w*0.65)*s, (y+h*0.8)*s, 6*s), d.b(x, y, x+w, y+h), line, 0.6, 1)
}

// renderBack draws the back of an ID card, residence permit or licence.
func renderBack(k *kit, c *country, per person, lk look, r *rand.Rand, s float64, scanned bool) *image.RGBA {
	d, img := newDocArt(k, true, scanned, c, per, lk, r, s)
	c1, c2, line := d.palette(true)
	d.background(c1, c2, line, 37)
	if per.docType == DriverLicense {
		cats := []string{"AM", "A1", "A2", "A", "B1", "B", "C1", "C", "D1", "D", "BE", "C1E", "CE", "D1E", "DE"}
		held := map[string]bool{}
		for _, k := range per.categories {
			held[k] = true
		}
		x0, y0, rh := 40.0, 50.0, 31.0
		cols := []float64{x0, x0 + 90, x0 + 250, x0 + 410, x0 + 560}
		d.text(fontRegular, 13, cols[1]+10, y0-12, alignLeft, "9.", inkLabel)
		d.text(fontRegular, 13, cols[2]+10, y0-12, alignLeft, "10.", inkLabel)
		d.text(fontRegular, 13, cols[3]+10, y0-12, alignLeft, "11.", inkLabel)
		for i, k := range cats {
			y := y0 + float64(i)*rh
			d.p.rect(d.b(x0, y, cols[4], y+1.2), inkLabel, 0.6)
			d.text(fontBold, 17, cols[0]+8, y+23, alignLeft, k, inkValue)
			if held[k] {
				d.text(fontRegular, 17, cols[1]+10, y+23, alignLeft, "●", inkValue)
				d.text(fontBold, 17, cols[2]+10, y+23, alignLeft, d.date(per.issued), inkValue)
				d.text(fontBold, 17, cols[3]+10, y+23, alignLeft, d.date(per.expires), inkValue)
			}
		}
		yEnd := y0 + float64(len(cats))*rh
		d.p.rect(d.b(x0, yEnd, cols[4], yEnd+1.2), inkLabel, 0.6)
		for _, x := range cols {
			d.p.rect(d.b(x, y0, x+1.2, yEnd), inkLabel, 0.6)
		}
		d.text(fontRegular, 13, 40, yEnd+28, alignLeft, "12.", inkLabel)
		d.value(80, yEnd+30, 20, 500, pick(r, []string{"01.06", "—", "70.0" + fmt.Sprint(1+r.IntN(9)), "—"}))
		d.text(fontRegular, 13, 40, yEnd+58, alignLeft, "14.", inkLabel)
		d.text(fontMono, 15, 80, yEnd+58, alignLeft, per.docNumber, inkValue)
		d.barcode(650, 60, 300, 300, 12)
		d.specimen(650, 400)
		d.text(fontRegular, 13, 650, 440, alignLeft, c.authority, inkLabel)
		return img
	}
	d.field(40, 52, 560, "ADDRESS", per.street)
	d.value(40, 108, 23, 560, per.postc+" "+strings.ToUpper(per.city))
	d.field(40, 138, 300, "PLACE OF BIRTH", per.birthplace)
	d.field(40, 190, 300, "DATE OF ISSUE", d.date(per.issued))
	d.field(360, 190, 300, "AUTHORITY", c.authority)
	if per.docType == ResidencePermit {
		d.field(40, 242, 600, "NATIONALITY", per.natName)
	} else {
		d.field(40, 242, 200, "HEIGHT", fmt.Sprintf("%d cm", 155+r.IntN(40)))
	}
	d.barcode(700, 40, 250, 250, 10)
	d.specimen(40, 360)
	d.p.rect(d.b(0, 400, d.w, d.h), hex(0xFFFFFF), 0.6)
	code := "ID"
	if per.docType == ResidencePermit {
		code = "IR"
	}
	m := td1(per, padMRZ(c.alpha3, 3), code)
	d.mrz(m[:], 60, 468, 64, 47)
	return img
}

// phonePhoto photographs a document lying on a table: a big frame, the
// document a little rotated, a soft shadow, uneven light and grain.
//
// The document is shown zoom times its pixel size.
//
//go:norace
func phonePhoto(doc *image.RGBA, zoom float64, r *rand.Rand, w, h int, cover rgb, withCover bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	p := newPainter(img)
	W, H := float64(w), float64(h)
	// Table: wood grain, or a plain desk.
	switch r.IntN(3) {
	case 0:
		// Grain: sin(a(y) + b(x)) expanded, so no trigonometry per pixel; a
		// broad wave and a fine streak.
		c1, c2 := hex(0x9A6B45), hex(0x7A5030)
		ph := r.Float64() * 10
		sb, cb := make([]float64, w), make([]float64, w)
		sb2, cb2 := make([]float64, w), make([]float64, w)
		for x := range w {
			b := 1.4*math.Sin(float64(x)*0.0017+ph) + 0.5*math.Sin(float64(x)*0.0071)
			sb[x], cb[x] = math.Sincos(b)
			sb2[x], cb2[x] = math.Sincos(2.3 * b)
		}
		var lut [257][4]uint8
		for k := range lut {
			c := c1.mix(c2, float64(k)/256)
			lut[k] = [4]uint8{clamp8(c.r), clamp8(c.g), clamp8(c.b), 255}
		}
		for y := range h {
			sa, ca := math.Sincos(float64(y) * 0.021)
			sa2, ca2 := math.Sincos(float64(y) * 0.13)
			row := img.Pix[y*img.Stride : y*img.Stride+w*4]
			for x := range w {
				g := 0.3*(sa*cb[x]+ca*sb[x]) + 0.18*(sa2*cb2[x]+ca2*sb2[x]) // -0.48..0.48
				copy(row[x*4:x*4+4], lut[int((0.5+g)*256)][:])
			}
		}
	case 1:
		c := hsl(200+r.Float64()*40, 0.08, 0.25+0.1*r.Float64())
		p.rect(box{0, 0, W, H}, c, 1)
	default:
		c := hsl(30+r.Float64()*20, 0.12, 0.78)
		p.rect(box{0, 0, W, H}, c, 1)
	}
	dw, dh := float64(doc.Rect.Dx()), float64(doc.Rect.Dy())
	if withCover {
		m := dw * 0.025
		grown := image.NewRGBA(image.Rect(0, 0, int(dw+2*m), int(dh+2*m)))
		gp := newPainter(grown)
		gw, gh := float64(grown.Rect.Dx()), float64(grown.Rect.Dy())
		gp.fill(roundRectSD(0, 0, gw, gh, m*1.2), box{0, 0, gw, gh}, cover, 1, 1)
		over(grown, doc, int(m), int(m), 1, false)
		doc, dw, dh = grown, gw, gh
	}
	th := (r.Float64()*2 - 1) * 7 * math.Pi / 180
	cx, cy := W/2+(r.Float64()-0.5)*W*0.08, H/2+(r.Float64()-0.5)*H*0.08
	cos, sin := math.Cos(th), math.Sin(th)
	// Inverse map: destination → document.
	z := zoom
	inv := [6]float64{cos / z, sin / z, (-cos*cx-sin*cy)/z + dw/2, -sin / z, cos / z, (sin*cx-cos*cy)/z + dh/2}
	// Tight bounds of the rotated document.
	ex := z * (math.Abs(cos)*dw + math.Abs(sin)*dh) / 2
	ey := z * (math.Abs(sin)*dw + math.Abs(cos)*dh) / 2
	bounds := image.Rect(int(cx-ex)-2, int(cy-ey)-2, int(cx+ex)+3, int(cy+ey)+3)
	docSD := roundRectSD(0, 0, dw, dh, dw*0.037)
	ox, oy := W*0.006, H*0.012
	shadow := func(x, y float64) float64 {
		under := docSD(inv[0]*x+inv[1]*y+inv[2], inv[3]*x+inv[4]*y+inv[5])
		sx, sy := x-ox, y-oy
		sd := docSD(inv[0]*sx+inv[1]*sy+inv[2], inv[3]*sx+inv[4]*sy+inv[5])
		return z * math.Max(sd, -(under+80/z)) // nothing to paint where the document will cover it
	}
	p.fill(shadow, box{cx - ex - 80, cy - ey - 80, cx + ex + 80, cy + ey + 80}, hex(0x000000), 0.5, 45)
	warpOver(img, bounds, doc, inv, 1)
	// Light: a broad highlight off centre, darker corners, grain.
	grade(img, W*r.Float64(), H*r.Float64()*0.5, 1.12, 0.35, 4, r.Uint64())
	return img
}
