package sample

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Document sizes in layout units; a document is drawn at s pixels per unit.
const (
	cardW, cardH = 1000.0, 630.0 // ID-1 (85.6 × 54 mm)
	pageW, pageH = 1000.0, 700.0 // passport data page (125 × 88 mm)
)

var months = [...]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// kit holds what a generator reuses between documents: font faces and the
// document backgrounds (documents of one type share their guilloche, as real
// ones do).
type kit struct {
	fs  faces
	bgs map[bgKey]*image.RGBA
}

func newKit() *kit { return &kit{fs: faces{}, bgs: map[bgKey]*image.RGBA{}} }

type bgKey struct {
	country, docType string
	back             bool
}

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

// background paints the document base: a diagonal gradient, two families of
// fine wavy guilloche lines and a rosette, inside a rounded rectangle. At
// scale 1 it is drawn once per document type and side, then copied.
func (d *docArt) background(c1, c2, line rgb, radius float64) {
	key := bgKey{d.c.code, d.per.docType, d.back}
	cacheable := d.s == 1 && d.scanned
	if cacheable {
		if bg, ok := d.kit.bgs[key]; ok {
			copy(d.p.img.Pix, bg.Pix)
			return
		}
	}
	d.drawBackground(c1, c2, line, radius, key)
	if cacheable && len(d.kit.bgs) < 32 {
		bg := image.NewRGBA(d.p.img.Rect)
		copy(bg.Pix, d.p.img.Pix)
		d.kit.bgs[key] = bg
	}
}

func (d *docArt) drawBackground(c1, c2, line rgb, radius float64, key bgKey) {
	// The pattern's phases depend on the document type only.
	h := uint64(14695981039346656037)
	for _, b := range []byte(key.country + key.docType) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	if key.back {
		h *= 31
	}
	pr := rand.New(rand.NewPCG(h, 7))
	img := d.p.img
	wpx, hpx := img.Rect.Dx(), img.Rect.Dy()
	s := d.s
	ph1, ph2 := pr.Float64()*6.28, pr.Float64()*6.28
	w1 := make([]float64, wpx)
	w2 := make([]float64, wpx)
	for x := range wpx {
		u := (float64(x) + 0.5) / s
		w1[x] = 9 * math.Sin(u*0.021+ph1) * (1 + 0.4*math.Sin(u*0.0051))
		w2[x] = 12*math.Sin(u*0.016+ph2) - u*0.12
	}
	rcx, rcy, rr := 0.78*d.w, 0.58*d.h, 0.36*d.h
	corner := roundRectSD(0, 0, d.w*s, d.h*s, radius*s)
	lw := math.Max(0.55, 0.45*s) // line half width in pixels
	for y := range hpx {
		fy := (float64(y) + 0.5) / s
		i := y * img.Stride
		for x := 0; x < wpx; x, i = x+1, i+4 {
			fx := (float64(x) + 0.5) / s
			cov := 1.0
			if fx < radius || fx > d.w-radius || fy < radius || fy > d.h-radius {
				cov = clamp01(0.5 - corner(fx*s, fy*s))
				if cov == 0 {
					continue
				}
			}
			t := clamp01(0.65*fx/d.w + 0.35*fy/d.h)
			c := c1.mix(c2, t)
			v1 := (fy + w1[x]) / 11
			l1 := clamp01(1 - math.Abs(v1-math.Round(v1))*11*s/lw/2)
			v2 := (fy + w2[x]) / 15
			l2 := clamp01(1 - math.Abs(v2-math.Round(v2))*15*s/lw/2)
			a := 0.2*l1 + 0.16*l2
			if dx, dy := fx-rcx, fy-rcy; dx*dx+dy*dy < rr*rr {
				rad := math.Sqrt(dx*dx+dy*dy) + 1e-9
				// cos 9θ and cos 14θ from powers of the unit vector: no trigonometry.
				zr, zi := dx/rad, dy/rad
				z2r, z2i := zr*zr-zi*zi, 2*zr*zi
				z4r, z4i := z2r*z2r-z2i*z2i, 2*z2r*z2i
				z8r, z8i := z4r*z4r-z4i*z4i, 2*z4r*z4i
				c9 := z8r*zr - z8i*zi
				z12r, z12i := z8r*z4r-z8i*z4i, z8r*z4i+z8i*z4r
				c14 := z12r*z2r - z12i*z2i
				v3 := (rad + 6*c9 + 3*c14) / 8
				l3 := clamp01(1 - math.Abs(v3-math.Round(v3))*8*s/lw/2)
				a += 0.25 * l3 * smoothstep(rr, rr*0.6, rad)
			}
			c = c.mix(line, clamp01(a))
			blend(img.Pix, i, c, cov)
		}
	}
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
	ring := subtract(ellipseSD(cx*s, cy*s, rx*s, ry*s), ellipseSD(cx*s, cy*s, rx*0.7*s, ry*0.7*s))
	d.p.paint(ring, d.b(cx-rx, cy-ry, cx+rx, cy+ry), func(x, y float64) rgb {
		return hsl((x+y)/s*0.9, 0.7, 0.6)
	}, 0.13, 3*s)
}

// signature scribbles a handwritten signature from the holder's name.
func (d *docArt) signature(x, y, w float64) {
	s := d.s
	r := rand.New(rand.NewPCG(uint64(len(d.per.last)), uint64(d.per.dob.Unix())))
	loops := 3 + r.Float64()*4
	amp := 10 + r.Float64()*8
	var pts [][2]float64
	for t := 0.0; t <= 1.0001; t += 0.004 {
		lx := x + t*w*0.85 + amp*0.9*math.Cos(t*loops*2*math.Pi+1.2)
		ly := y - amp*math.Sin(t*loops*2*math.Pi)*(1-0.5*t) - 6*math.Sin(t*3.1)
		pts = append(pts, [2]float64{lx * s, ly * s})
	}
	pts = append(pts, [2]float64{(x + w*0.2) * s, (y + amp*0.9) * s})
	pts = append(pts, [2]float64{(x + w) * s, (y + amp*0.4) * s})
	d.p.stroke(pts, math.Max(1.2, 2.2*s), hex(0x1B2A6B), 0.85)
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
	if scanned {
		newPainter(img).rect(box{0, 0, float64(img.Rect.Dx()), float64(img.Rect.Dy())}, scannerBed, 1)
	}
	d := &docArt{p: newPainter(img), s: s, kit: k, fs: k.fs, back: back, scanned: scanned, c: c, per: per, lk: lk, r: r, w: w, h: h, accent: hsl(c.hue+200, 0.55, 0.28)}
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
		} else if per.personalCode != "" {
			d.field(x, 326, 300, "PERSONAL NO.", per.personalCode)
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
func phonePhoto(doc *image.RGBA, r *rand.Rand, w, h int, cover rgb, withCover bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	p := newPainter(img)
	W, H := float64(w), float64(h)
	// Table: wood grain, or a plain desk.
	switch r.IntN(3) {
	case 0:
		// Grain: sin(a(y) + b(x)) expanded, so no trigonometry per pixel.
		c1, c2 := hex(0x8B5E3C), hex(0x6B4428)
		ph := r.Float64() * 10
		sb, cb := make([]float64, w), make([]float64, w)
		for x := range w {
			b := 3*math.Sin(float64(x)*0.0021+ph) + 1.5*math.Sin(float64(x)*0.011)
			sb[x], cb[x] = math.Sin(b), math.Cos(b)
		}
		for y := range h {
			sa, ca := math.Sincos(float64(y) * 0.045)
			i := y * img.Stride
			for x := 0; x < w; x, i = x+1, i+4 {
				g := (sa*cb[x] + ca*sb[x]) * 0.5
				c := c1.mix(c2, 0.5+g)
				img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = clamp8(c.r), clamp8(c.g), clamp8(c.b), 255
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
	inv := [6]float64{cos, sin, -cos*cx - sin*cy + dw/2, -sin, cos, sin*cx - cos*cy + dh/2}
	// Tight bounds of the rotated document.
	ex := (math.Abs(cos)*dw + math.Abs(sin)*dh) / 2
	ey := (math.Abs(sin)*dw + math.Abs(cos)*dh) / 2
	bounds := image.Rect(int(cx-ex)-2, int(cy-ey)-2, int(cx+ex)+3, int(cy+ey)+3)
	docSD := roundRectSD(0, 0, dw, dh, dw*0.037)
	ox, oy := W*0.006, H*0.012
	shadow := func(x, y float64) float64 {
		under := docSD(inv[0]*x+inv[1]*y+inv[2], inv[3]*x+inv[4]*y+inv[5])
		sx, sy := x-ox, y-oy
		sd := docSD(inv[0]*sx+inv[1]*sy+inv[2], inv[3]*sx+inv[4]*sy+inv[5])
		return math.Max(sd, -(under + 80)) // nothing to paint where the document will cover it
	}
	p.fill(shadow, box{cx - ex - 80, cy - ey - 80, cx + ex + 80, cy + ey + 80}, hex(0x000000), 0.5, 45)
	warpOver(img, bounds, doc, inv, 1)
	// Light: a broad highlight off centre, darker corners, grain.
	grade(img, W*r.Float64(), H*r.Float64()*0.5, 1.12, 0.35, 4, r.Uint64())
	return img
}
