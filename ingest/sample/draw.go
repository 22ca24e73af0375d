package sample

import (
	"encoding/binary"
	"image"
	"image/color"
	"math"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// This file holds a tiny raster toolkit: shapes are signed-distance functions
// (negative inside, in pixels), which gives anti-aliased edges and cheap
// unions, intersections and soft shadows, painted straight into *image.RGBA.
//
// The pixel kernels are marked //go:norace: they touch only images owned by
// the one goroutine drawing a record, and tables that are read-only once
// built (behind sync.Once), so race instrumentation would only make
// `go test -race` slow; the concurrency around them (Generate's workers, the
// font and guilloche caches) stays instrumented.

// rgb is a colour with float channels in 0..255.
type rgb struct{ r, g, b float64 }

func hex(v uint32) rgb {
	return rgb{float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)}
}

func (c rgb) mix(d rgb, t float64) rgb {
	return rgb{c.r + (d.r-c.r)*t, c.g + (d.g-c.g)*t, c.b + (d.b-c.b)*t}
}

func (c rgb) scale(f float64) rgb { return rgb{c.r * f, c.g * f, c.b * f} }

func (c rgb) rgba() color.RGBA {
	return color.RGBA{clamp8(c.r), clamp8(c.g), clamp8(c.b), 255}
}

// hsl builds a colour from hue (degrees), saturation and lightness (0..1).
func hsl(h, s, l float64) rgb {
	h = math.Mod(h, 360)
	if h < 0 {
		h += 360
	}
	c := (1 - math.Abs(2*l-1)) * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := l - c/2
	var r, g, b float64
	switch {
	case h < 60:
		r, g, b = c, x, 0
	case h < 120:
		r, g, b = x, c, 0
	case h < 180:
		r, g, b = 0, c, x
	case h < 240:
		r, g, b = 0, x, c
	case h < 300:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	return rgb{(r + m) * 255, (g + m) * 255, (b + m) * 255}
}

func clamp8(v float64) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}

func clamp01(v float64) float64 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

func smoothstep(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

var sinTable = func() (t [1024]float64) {
	for i := range t {
		t[i] = math.Sin(float64(i) * 2 * math.Pi / 1024)
	}
	return
}()

// fastSin is a table sine, good for textures.
func fastSin(x float64) float64 {
	return sinTable[int(math.Floor(x*(1024/(2*math.Pi))))&1023]
}

// box is a float rectangle used as the bounding box of a shape.
type box struct{ x0, y0, x1, y1 float64 }

func (b box) grow(d float64) box { return box{b.x0 - d, b.y0 - d, b.x1 + d, b.y1 + d} }

type sdf func(x, y float64) float64

func ellipseSD(cx, cy, rx, ry float64) sdf {
	return func(x, y float64) float64 {
		dx, dy := (x-cx)/rx, (y-cy)/ry
		k := math.Sqrt(dx*dx + dy*dy)
		if k == 0 {
			return -math.Min(rx, ry)
		}
		g := math.Sqrt(dx*dx/(rx*rx)+dy*dy/(ry*ry)) / k
		return (k - 1) / g
	}
}

func ellipseBox(cx, cy, rx, ry float64) box { return box{cx - rx, cy - ry, cx + rx, cy + ry} }

func roundRectSD(x0, y0, x1, y1, r float64) sdf {
	cx, cy := (x0+x1)/2, (y0+y1)/2
	hx, hy := (x1-x0)/2-r, (y1-y0)/2-r
	return func(x, y float64) float64 {
		qx := math.Abs(x-cx) - hx
		qy := math.Abs(y-cy) - hy
		ox, oy := math.Max(qx, 0), math.Max(qy, 0)
		return math.Sqrt(ox*ox+oy*oy) + math.Min(math.Max(qx, qy), 0) - r
	}
}

// capsuleSD is a line segment with round caps, w wide.
func capsuleSD(ax, ay, bx, by, w float64) sdf {
	return func(x, y float64) float64 {
		px, py := x-ax, y-ay
		dx, dy := bx-ax, by-ay
		h := clamp01((px*dx + py*dy) / (dx*dx + dy*dy + 1e-12))
		ex, ey := px-dx*h, py-dy*h
		return math.Sqrt(ex*ex+ey*ey) - w/2
	}
}

// belowSD is the region under the curve y = f(x).
func belowSD(f func(x float64) float64) sdf {
	return func(x, y float64) float64 { return f(x) - y }
}

// curveSD is the region under the curve y = f(x), its distance corrected by
// the slope so that steep parts stay anti-aliased.
func curveSD(f func(x float64) float64) sdf {
	return func(x, y float64) float64 {
		fx := f(x)
		d := (f(x+0.5) - f(x-0.5))
		return (fx - y) / math.Sqrt(1+d*d)
	}
}

func intersect(a, b sdf) sdf {
	return func(x, y float64) float64 { return math.Max(a(x, y), b(x, y)) }
}

func subtract(a, b sdf) sdf {
	return func(x, y float64) float64 { return math.Max(a(x, y), -b(x, y)) }
}

// painter paints shapes into an RGBA image, clipped to clip.
type painter struct {
	img  *image.RGBA
	clip image.Rectangle
}

func newPainter(img *image.RGBA) *painter { return &painter{img: img, clip: img.Bounds()} }

func (p *painter) span(b box) (x0, y0, x1, y1 int) {
	r := image.Rect(int(math.Floor(b.x0)), int(math.Floor(b.y0)), int(math.Ceil(b.x1))+1, int(math.Ceil(b.y1))+1).Intersect(p.clip)
	return r.Min.X, r.Min.Y, r.Max.X, r.Max.Y
}

// blend mixes colour c into the pixel at offset i with opacity a.
//
//go:norace
func blend(pix []uint8, i int, c rgb, a float64) {
	if a >= 1 {
		pix[i], pix[i+1], pix[i+2], pix[i+3] = clamp8(c.r), clamp8(c.g), clamp8(c.b), 255
		return
	}
	b := 1 - a
	pix[i] = clamp8(float64(pix[i])*b + c.r*a)
	pix[i+1] = clamp8(float64(pix[i+1])*b + c.g*a)
	pix[i+2] = clamp8(float64(pix[i+2])*b + c.b*a)
	pix[i+3] = clamp8(float64(pix[i+3])*b + 255*a)
}

// blend8 mixes colour (r, g, b), each 0..255, into the pixel at offset i
// with opacity a in 0..256.
//
//go:norace
func blend8(pix []uint8, i int, r, g, b, a int32) {
	px := pix[i : i+4 : i+4]
	if a >= 256 {
		px[0], px[1], px[2], px[3] = uint8(r), uint8(g), uint8(b), 255
		return
	}
	na := 256 - a
	px[0] = uint8((int32(px[0])*na + r*a) >> 8)
	px[1] = uint8((int32(px[1])*na + g*a) >> 8)
	px[2] = uint8((int32(px[2])*na + b*a) >> 8)
	px[3] = uint8((int32(px[3])*na + 255*a) >> 8)
}

// fill paints shape sd (inside bb) with colour c at opacity alpha; soft widens
// the anti-aliased edge (soft=1 is a crisp edge, larger values blur it).
func (p *painter) fill(sd sdf, bb box, c rgb, alpha, soft float64) {
	p.shape(sd, bb.grow(soft), nil, c, alpha, soft)
}

// paint is fill with a colour that varies over the shape.
func (p *painter) paint(sd sdf, bb box, col func(x, y float64) rgb, alpha, soft float64) {
	p.shape(sd, bb, col, rgb{}, alpha, soft)
}

// shape paints sd with col, or with solid when col is nil.
//
// The shape is evaluated per 8×8 tile first: a tile whose centre lies far
// enough outside (or inside) the shape is skipped (or painted without further
// distance evaluations). The margin allows distance estimates that overstate
// the true distance by up to 2×, which covers the approximations used here.
//
//go:norace
func (p *painter) shape(sd sdf, bb box, col func(x, y float64) rgb, solid rgb, alpha, soft float64) {
	if soft < 1 {
		soft = 1
	}
	const tile = 8
	margin := soft/2 + 2*tile*0.7072
	sr, sg, sb := int32(clamp8(solid.r)), int32(clamp8(solid.g)), int32(clamp8(solid.b))
	a256 := alpha * 256
	x0, y0, x1, y1 := p.span(bb)
	pix, stride := p.img.Pix, p.img.Stride
	for ty := y0; ty < y1; ty += tile {
		ey := min(ty+tile, y1)
		for tx := x0; tx < x1; tx += tile {
			ex := min(tx+tile, x1)
			d := sd(float64(tx+ex)/2, float64(ty+ey)/2)
			if d > margin {
				continue
			}
			full := d < -margin
			for y := ty; y < ey; y++ {
				fy := float64(y) + 0.5
				i := (y-p.img.Rect.Min.Y)*stride + (tx-p.img.Rect.Min.X)*4
				for x := tx; x < ex; x, i = x+1, i+4 {
					fx := float64(x) + 0.5
					a := a256
					if !full {
						cov := 0.5 - sd(fx, fy)/soft
						if cov <= 0 {
							continue
						}
						if cov < 1 {
							a *= cov
						}
					}
					if col == nil {
						blend8(pix, i, sr, sg, sb, int32(a))
						continue
					}
					c := col(fx, fy)
					blend8(pix, i, int32(clamp8(c.r)), int32(clamp8(c.g)), int32(clamp8(c.b)), int32(a))
				}
			}
		}
	}
}

// rect fills an axis-aligned rectangle without anti-aliasing (fast path).
//
//go:norace
func (p *painter) rect(b box, c rgb, alpha float64) {
	x0, y0, x1, y1 := p.span(box{b.x0, b.y0, b.x1 - 1, b.y1 - 1})
	pix, stride := p.img.Pix, p.img.Stride
	solid := uint32(clamp8(c.r)) | uint32(clamp8(c.g))<<8 | uint32(clamp8(c.b))<<16 | 255<<24
	for y := y0; y < y1; y++ {
		i := (y-p.img.Rect.Min.Y)*stride + (x0-p.img.Rect.Min.X)*4
		for x := x0; x < x1; x, i = x+1, i+4 {
			if alpha >= 1 {
				binary.LittleEndian.PutUint32(pix[i:i+4], solid)
				continue
			}
			blend(pix, i, c, alpha)
		}
	}
}

// stroke draws a polyline w wide. Short lines are painted as one shape, so
// translucent strokes do not darken where segments meet; long ones (a
// signature) segment by segment, which is only seamless when opaque.
func (p *painter) stroke(pts [][2]float64, w float64, c rgb, alpha float64) {
	if len(pts) < 2 {
		return
	}
	if len(pts) > 24 {
		for i := 1; i < len(pts); i++ {
			p.stroke(pts[i-1:i+1], w, c, alpha)
		}
		return
	}
	bb := box{pts[0][0], pts[0][1], pts[0][0], pts[0][1]}
	for _, q := range pts {
		bb = box{math.Min(bb.x0, q[0]), math.Min(bb.y0, q[1]), math.Max(bb.x1, q[0]), math.Max(bb.y1, q[1])}
	}
	segs := make([]sdf, len(pts)-1)
	for i := range segs {
		segs[i] = capsuleSD(pts[i][0], pts[i][1], pts[i+1][0], pts[i+1][1], w)
	}
	union := func(x, y float64) float64 {
		d := math.Inf(1)
		for _, s := range segs {
			d = math.Min(d, s(x, y))
		}
		return d
	}
	p.fill(union, bb.grow(w+1), c, alpha, 1)
}

// grade multiplies every pixel by a light fall-off centred on (cx, cy),
// gain = a - b*((x-cx)/W)² - b*((y-cy)/H)², and adds grain of amplitude amp
// (a cheap xorshift), in one pass.
//
//go:norace
func grade(img *image.RGBA, cx, cy, a, b float64, amp int, seed uint64) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	gx := make([]int32, w)
	for x := range gx {
		d := (float64(x) + 0.5 - cx) / float64(w)
		gx[x] = int32(b * d * d * 256)
	}
	st := seed | 1
	span := uint64(2*amp + 1)
	for y := range h {
		d := (float64(y) + 0.5 - cy) / float64(h)
		gy := int32((a - b*d*d) * 256)
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for x := range w {
			f := gy - gx[x]
			var n int32
			if amp > 0 {
				st ^= st << 13
				st ^= st >> 7
				st ^= st << 17
				n = int32((st>>32)*span>>32) - int32(amp)
			}
			px := row[x*4 : x*4+3 : x*4+3]
			px[0] = uint8(min(max((int32(px[0])*f)>>8+n, 0), 255))
			px[1] = uint8(min(max((int32(px[1])*f)>>8+n, 0), 255))
			px[2] = uint8(min(max((int32(px[2])*f)>>8+n, 0), 255))
		}
	}
}

// Fonts: parsed once (sfnt.Font is safe for concurrent use); faces are not,
// so each generator keeps its own.

type fontID int

const (
	fontRegular fontID = iota
	fontBold
	fontMono
)

var (
	parseOnce sync.Once
	parsed    [3]*opentype.Font
)

func fontData(id fontID) *opentype.Font {
	parseOnce.Do(func() {
		for i, ttf := range [][]byte{goregular.TTF, gobold.TTF, gomono.TTF} {
			f, err := opentype.Parse(ttf)
			if err != nil {
				panic("sample: parse embedded Go font: " + err.Error())
			}
			parsed[i] = f
		}
	})
	return parsed[id]
}

type faceKey struct {
	id   fontID
	size int // in 1/8 px
}

type faces map[faceKey]font.Face

func (fs faces) get(id fontID, px float64) font.Face {
	k := faceKey{id, int(px*8 + 0.5)}
	if f, ok := fs[k]; ok {
		return f
	}
	f, err := opentype.NewFace(fontData(id), &opentype.FaceOptions{Size: float64(k.size) / 8, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		panic("sample: new face: " + err.Error())
	}
	fs[k] = f
	return f
}

type align int

const (
	alignLeft align = iota
	alignCenter
	alignRight
)

// text draws s with its baseline at y; x is the left edge, centre or right
// edge according to al. It returns the advance width in pixels.
func (p *painter) text(f font.Face, x, y float64, al align, s string, c rgb, alpha float64) float64 {
	w := float64(font.MeasureString(f, s)) / 64
	switch al {
	case alignCenter:
		x -= w / 2
	case alignRight:
		x -= w
	}
	col := c.rgba()
	col = color.RGBA{uint8(float64(col.R) * alpha), uint8(float64(col.G) * alpha), uint8(float64(col.B) * alpha), uint8(255 * alpha)}
	d := font.Drawer{Dst: p.img, Src: image.NewUniform(col), Face: f, Dot: fixed.Point26_6{X: fixed.Int26_6(x * 64), Y: fixed.Int26_6(y * 64)}}
	d.DrawString(s)
	return w
}

func textWidth(f font.Face, s string) float64 { return float64(font.MeasureString(f, s)) / 64 }

// warpOver composites src (premultiplied) over dst, mapping each destination
// pixel back to src with the inverse affine transform inv (bilinear sampling).
// inv is [a b c; d e f]: sx = a*x + b*y + c, sy = d*x + e*y + f.
//
//go:norace
func warpOver(dst *image.RGBA, dr image.Rectangle, src *image.RGBA, inv [6]float64, opacity float64) {
	dr = dr.Intersect(dst.Rect)
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	sp, ss := src.Pix, src.Stride
	op := int32(opacity * 256)
	for y := dr.Min.Y; y < dr.Max.Y; y++ {
		fy := float64(y) + 0.5
		i := (y-dst.Rect.Min.Y)*dst.Stride + (dr.Min.X-dst.Rect.Min.X)*4
		// Source position in 1/256 pixel, stepped along the row.
		fx0 := float64(dr.Min.X) + 0.5
		sx := int64((inv[0]*fx0 + inv[1]*fy + inv[2] - 0.5) * 256)
		sy := int64((inv[3]*fx0 + inv[4]*fy + inv[5] - 0.5) * 256)
		dsx, dsy := int64(inv[0]*256), int64(inv[3]*256)
		for x := dr.Min.X; x < dr.Max.X; x, i, sx, sy = x+1, i+4, sx+dsx, sy+dsy {
			x0, y0 := int(sx>>8), int(sy>>8)
			if x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh {
				continue
			}
			tx, ty := int32(sx&255), int32(sy&255)
			var acc [4]int32
			for k, w := range [4]int32{(256 - tx) * (256 - ty), tx * (256 - ty), (256 - tx) * ty, tx * ty} {
				px, py := x0+k&1, y0+k>>1
				if w == 0 || px < 0 || py < 0 || px >= sw || py >= sh {
					continue
				}
				j := py*ss + px*4
				acc[0] += w * int32(sp[j])
				acc[1] += w * int32(sp[j+1])
				acc[2] += w * int32(sp[j+2])
				acc[3] += w * int32(sp[j+3])
			}
			// acc is in 1/65536; scale by the opacity.
			a := (acc[3] >> 16) * op >> 8
			if a <= 0 {
				continue
			}
			na := 255 - a
			px := dst.Pix[i : i+4 : i+4]
			px[0] = uint8(min((int32(px[0])*na)/255+(acc[0]>>16)*op>>8, 255))
			px[1] = uint8(min((int32(px[1])*na)/255+(acc[1]>>16)*op>>8, 255))
			px[2] = uint8(min((int32(px[2])*na)/255+(acc[2]>>16)*op>>8, 255))
			px[3] = uint8(min((int32(px[3])*na)/255+a, 255))
		}
	}
}

// over composites src (premultiplied) over dst at offset (ox, oy), optionally
// desaturated, at the given opacity.
//
//go:norace
func over(dst *image.RGBA, src *image.RGBA, ox, oy int, opacity float64, desaturate bool) {
	r := src.Rect.Add(image.Pt(ox, oy)).Intersect(dst.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		i := (y-dst.Rect.Min.Y)*dst.Stride + (r.Min.X-dst.Rect.Min.X)*4
		j := (y-oy-src.Rect.Min.Y)*src.Stride + (r.Min.X-ox-src.Rect.Min.X)*4
		for x := r.Min.X; x < r.Max.X; x, i, j = x+1, i+4, j+4 {
			if src.Pix[j+3] == 255 && opacity == 1 && !desaturate {
				copy(dst.Pix[i:i+4], src.Pix[j:j+4])
				continue
			}
			a := float64(src.Pix[j+3]) / 255 * opacity
			if a <= 0 {
				continue
			}
			cr, cg, cb := float64(src.Pix[j])*opacity, float64(src.Pix[j+1])*opacity, float64(src.Pix[j+2])*opacity
			if desaturate {
				yv := 0.299*cr + 0.587*cg + 0.114*cb
				cr, cg, cb = yv, yv, yv
			}
			b := 1 - a
			dst.Pix[i] = clamp8(float64(dst.Pix[i])*b + cr)
			dst.Pix[i+1] = clamp8(float64(dst.Pix[i+1])*b + cg)
			dst.Pix[i+2] = clamp8(float64(dst.Pix[i+2])*b + cb)
			dst.Pix[i+3] = clamp8(float64(dst.Pix[i+3])*b + 255*a)
		}
	}
}
