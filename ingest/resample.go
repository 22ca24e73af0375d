package ingest

import (
	"image"
	"image/color"
	"math"
)

// plane is one 8-bit channel of an image (luma, a chroma plane, or gray).
// Normalization resamples planes separately: a JPEG decodes to YCbCr planes
// and is encoded from them, so nothing is converted to RGB and back, and
// the chroma planes (a quarter of the luma in 4:2:0) cost a quarter.
type plane struct {
	w, h, stride int
	pix          []uint8
}

func newPlane(w, h int) plane { return plane{w: w, h: h, stride: w, pix: make([]uint8, w*h)} }

func (p plane) row(y int) []uint8 { return p.pix[y*p.stride : y*p.stride+p.w] }

// kernel is a resampling filter: its support (radius, in source pixels at
// scale 1) and its function.
type kernel struct {
	support float64
	at      func(x float64) float64
}

// lanczos3 is the windowed sinc with three lobes (the quality reference).
var lanczos3 = kernel{support: 3, at: func(x float64) float64 {
	x = math.Abs(x)
	switch {
	case x == 0:
		return 1
	case x < 3:
		px := math.Pi * x
		return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
	}
	return 0
}}

// resampleKernel is the filter of every resize after the integer box
// pre-shrink. Lanczos-3, as libvips: with CatmullRom, the 12 MP benchmark
// (ingest/bench) is 8 % faster but its luma PSNR drops below libvips's and
// imaging's.
var resampleKernel = lanczos3

// boxGap: the integer box pre-shrink leaves at least this factor to the
// filter (libvips's "gap"), so the filter still does the anti-aliasing.
const boxGap = 2.0

const weightBits = 14

// weights are the fixed-point filter taps of one axis: output i reads n
// source samples from start[i], weighted by w[i*n:(i+1)*n] (summing to
// 1<<weightBits).
type weights struct {
	n     int
	start []int
	w     []int32
}

func makeWeights(in, out int, k kernel) weights {
	scale := float64(in) / float64(out)
	fs := max(scale, 1) // filter scale: widen when shrinking
	support := k.support * fs
	// Taps: the integers strictly inside (center-support, center+support).
	n := int(math.Ceil(2*support)) + 1
	if n > in {
		n = in
	}
	ws := weights{n: n, start: make([]int, out), w: make([]int32, out*n)}
	f := make([]float64, n)
	for i := 0; i < out; i++ {
		center := (float64(i)+0.5)*scale - 0.5
		left := int(math.Floor(center-support)) + 1
		s := min(max(left, 0), in-n)
		clear(f)
		var sum float64
		for j := left; float64(j) < center+support; j++ {
			v := k.at((float64(j) - center) / fs)
			if v == 0 {
				continue
			}
			idx := min(max(j, 0), in-1) - s
			if idx < 0 || idx >= n {
				continue
			}
			f[idx] += v
			sum += v
		}
		ws.start[i] = s
		row := ws.w[i*n : (i+1)*n]
		var isum int32
		best := 0
		for t := range f {
			row[t] = int32(math.Round(f[t] / sum * (1 << weightBits)))
			isum += row[t]
			if f[t] > f[best] {
				best = t
			}
		}
		row[best] += 1<<weightBits - isum
	}
	return ws
}

func clampRound(v int32) uint8 {
	v = (v + 1<<(weightBits-1)) >> weightBits
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// resizePlane resamples src to w×h: an integer box average first when the
// factor is at least 2·boxGap, then the kernel for the rest.
func resizePlane(src plane, w, h int, k kernel) plane {
	if src.w == w && src.h == h {
		return src
	}
	kx := max(1, int(float64(src.w)/float64(w)/boxGap))
	ky := max(1, int(float64(src.h)/float64(h)/boxGap))
	if kx > 1 || ky > 1 {
		src = boxShrink(src, kx, ky)
	}
	if src.w == w && src.h == h {
		return src
	}
	// Horizontal pass over every source row, then vertical.
	tmp := src
	if src.w != w {
		tmp = newPlane(w, src.h)
		ws := makeWeights(src.w, w, k)
		for y := 0; y < src.h; y++ {
			hpass(src.row(y), tmp.row(y), &ws)
		}
	}
	if tmp.h == h {
		return tmp
	}
	dst := newPlane(w, h)
	ws := makeWeights(tmp.h, h, k)
	n := ws.n
	acc := make([]int32, w)
	for y := 0; y < h; y++ {
		clear(acc)
		s := ws.start[y]
		for t, v := range ws.w[y*n : y*n+n] {
			vaccum(acc, tmp.row(s+t), v)
		}
		out := dst.row(y)
		for x, a := range acc {
			out[x] = clampRound(a)
		}
	}
	return dst
}

// boxShrink averages blocks of kx×ky samples (partial blocks at the right
// and bottom edges average what they hold).
func boxShrink(src plane, kx, ky int) plane {
	w, h := (src.w+kx-1)/kx, (src.h+ky-1)/ky
	dst := newPlane(w, h)
	sums := make([]uint32, w)
	for y := 0; y < h; y++ {
		clear(sums)
		y0, y1 := y*ky, min((y+1)*ky, src.h)
		for sy := y0; sy < y1; sy++ {
			in := src.row(sy)
			for x := 0; x < w; x++ {
				x0, x1 := x*kx, min((x+1)*kx, src.w)
				var s uint32
				for _, v := range in[x0:x1] {
					s += uint32(v)
				}
				sums[x] += s
			}
		}
		out := dst.row(y)
		rows := uint32(y1 - y0)
		for x := 0; x < w; x++ {
			cnt := uint32(min((x+1)*kx, src.w)-x*kx) * rows
			out[x] = uint8((sums[x] + cnt/2) / cnt)
		}
	}
	return dst
}

// orientPlane applies an EXIF orientation (1..8) to p.
func orientPlane(p plane, o int) plane {
	if o <= 1 || o > 8 {
		return p
	}
	W, H := p.w, p.h
	dw, dh := W, H
	if o >= 5 {
		dw, dh = H, W
	}
	dst := newPlane(dw, dh)
	// dest index of source (sx, sy) = base + sx*dx + sy*dy
	var base, dx, dy int
	switch o {
	case 2: // mirror horizontally
		base, dx, dy = W-1, -1, dw
	case 3: // rotate 180
		base, dx, dy = (dh-1)*dw+W-1, -1, -dw
	case 4: // mirror vertically
		base, dx, dy = (dh-1)*dw, 1, -dw
	case 5: // transpose
		base, dx, dy = 0, dw, 1
	case 6: // rotate 90 clockwise
		base, dx, dy = H-1, dw, -1
	case 7: // transverse
		base, dx, dy = (dh-1)*dw+H-1, -dw, -1
	case 8: // rotate 90 counter-clockwise
		base, dx, dy = (dh-1)*dw, -dw, 1
	}
	// Rotations write down columns; go in tiles so both sides stay in cache.
	const tile = 64
	for ty := 0; ty < H; ty += tile {
		for tx := 0; tx < W; tx += tile {
			for sy := ty; sy < min(ty+tile, H); sy++ {
				in := p.row(sy)
				d := base + sy*dy + tx*dx
				for sx := tx; sx < min(tx+tile, W); sx++ {
					dst.pix[d] = in[sx]
					d += dx
				}
			}
		}
	}
	return dst
}

// planes is an image as luma and (unless gray) 4:2:0 chroma planes.
type planes struct {
	y, cb, cr plane
	gray      bool
}

// chromaSize is the size of a 4:2:0 chroma plane for a w×h image.
func chromaSize(w, h int) (int, int) { return (w + 1) / 2, (h + 1) / 2 }

// toPlanes returns img as planes. A YCbCr image (any subsampling) and a
// Gray image are used in place; everything else is flattened onto white
// and converted (luma at full resolution, chroma averaged over 2×2).
func toPlanes(img image.Image) planes {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		return planes{y: plane{w: b.Dx(), h: b.Dy(), stride: m.Stride, pix: m.Pix[m.PixOffset(b.Min.X, b.Min.Y):]}, gray: true}
	case *image.YCbCr:
		if b.Min == (image.Point{}) {
			cw, ch := b.Dx(), b.Dy()
			switch m.SubsampleRatio {
			case image.YCbCrSubsampleRatio422:
				cw = (cw + 1) / 2
			case image.YCbCrSubsampleRatio420:
				cw, ch = (cw+1)/2, (ch+1)/2
			case image.YCbCrSubsampleRatio440:
				ch = (ch + 1) / 2
			case image.YCbCrSubsampleRatio411:
				cw = (cw + 3) / 4
			case image.YCbCrSubsampleRatio410:
				cw, ch = (cw+3)/4, (ch+1)/2
			}
			return planes{
				y:  plane{w: b.Dx(), h: b.Dy(), stride: m.YStride, pix: m.Y},
				cb: plane{w: cw, h: ch, stride: m.CStride, pix: m.Cb},
				cr: plane{w: cw, h: ch, stride: m.CStride, pix: m.Cr},
			}
		}
	case *image.Gray16:
		p := newPlane(b.Dx(), b.Dy())
		for y := 0; y < p.h; y++ {
			out := p.row(y)
			for x := range out {
				out[x] = m.Pix[m.PixOffset(b.Min.X+x, b.Min.Y+y)]
			}
		}
		return planes{y: p, gray: true}
	}
	w, h := b.Dx(), b.Dy()
	cw, ch := chromaSize(w, h)
	p := planes{y: newPlane(w, h), cb: newPlane(cw, ch), cr: newPlane(cw, ch)}
	rowFn := rgbRows(img)
	rows := [2][]uint8{make([]uint8, 3*w), make([]uint8, 3*w)}
	for y := 0; y < h; y += 2 {
		n := min(2, h-y)
		for i := 0; i < n; i++ {
			rowFn(b.Min.Y+y+i, rows[i])
			yr := p.y.row(y + i)
			rgb := rows[i]
			for x := range yr {
				r, g, bl := int32(rgb[3*x]), int32(rgb[3*x+1]), int32(rgb[3*x+2])
				yr[x] = uint8((19595*r + 38470*g + 7471*bl + 1<<15) >> 16)
			}
		}
		if n == 1 {
			copy(rows[1], rows[0])
		}
		cbr, crr := p.cb.row(y/2), p.cr.row(y/2)
		for cx := range cbr {
			x0, x1 := 2*cx, min(2*cx+1, w-1)
			var r, g, bl int32
			for _, rr := range rows {
				r += int32(rr[3*x0]) + int32(rr[3*x1])
				g += int32(rr[3*x0+1]) + int32(rr[3*x1+1])
				bl += int32(rr[3*x0+2]) + int32(rr[3*x1+2])
			}
			_, cbv, crv := color.RGBToYCbCr(uint8((r+2)/4), uint8((g+2)/4), uint8((bl+2)/4))
			cbr[cx], crr[cx] = cbv, crv
		}
	}
	return p
}

// rgbRows returns a function that writes row y of img, flattened onto
// white, as packed 8-bit RGB.
func rgbRows(img image.Image) func(y int, dst []uint8) {
	b := img.Bounds()
	over := func(c, a uint32) uint8 { // premultiplied 16-bit c, alpha a, over white
		return uint8((c + (0xffff - a)) >> 8)
	}
	switch m := img.(type) {
	case *image.RGBA:
		return func(y int, dst []uint8) {
			src := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				a := src[4*x+3]
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x]+255-a, src[4*x+1]+255-a, src[4*x+2]+255-a
			}
		}
	case *image.NRGBA:
		return func(y int, dst []uint8) {
			src := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				a := uint32(src[4*x+3])
				if a == 255 {
					dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
					continue
				}
				for c := 0; c < 3; c++ {
					dst[3*x+c] = uint8((uint32(src[4*x+c])*a + 255*(255-a) + 127) / 255)
				}
			}
		}
	case *image.Paletted:
		lut := make([][3]uint8, 256)
		for i, c := range m.Palette {
			r, g, bl, a := c.RGBA()
			lut[i] = [3]uint8{over(r, a), over(g, a), over(bl, a)}
		}
		return func(y int, dst []uint8) {
			src := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				c := lut[src[x]]
				dst[3*x], dst[3*x+1], dst[3*x+2] = c[0], c[1], c[2]
			}
		}
	}
	return func(y int, dst []uint8) {
		for x := 0; x < b.Dx(); x++ {
			r, g, bl, a := img.At(b.Min.X+x, y).RGBA()
			dst[3*x], dst[3*x+1], dst[3*x+2] = over(r, a), over(g, a), over(bl, a)
		}
	}
}

// image returns the planes as an image the JPEG encoder takes directly.
func (p planes) image() image.Image {
	if p.gray {
		return &image.Gray{Pix: p.y.pix, Stride: p.y.stride, Rect: image.Rect(0, 0, p.y.w, p.y.h)}
	}
	return &image.YCbCr{
		Y: p.y.pix, Cb: p.cb.pix, Cr: p.cr.pix,
		YStride: p.y.stride, CStride: p.cb.stride,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, p.y.w, p.y.h),
	}
}

// resize returns the planes resampled to a w×h image (4:2:0 chroma).
func (p planes) resize(w, h int, k kernel) planes {
	out := planes{y: resizePlane(p.y, w, h, k), gray: p.gray}
	if !p.gray {
		cw, ch := chromaSize(w, h)
		out.cb = resizePlane(p.cb, cw, ch, k)
		out.cr = resizePlane(p.cr, cw, ch, k)
	}
	return out
}

// orient applies an EXIF orientation.
func (p planes) orient(o int) planes {
	out := planes{y: orientPlane(p.y, o), gray: p.gray}
	if !p.gray {
		out.cb, out.cr = orientPlane(p.cb, o), orientPlane(p.cr, o)
	}
	return out
}

// hpass filters one row horizontally.
func hpass(in, out []uint8, ws *weights) {
	n := ws.n
	for x := range out {
		wt := ws.w[x*n : x*n+n]
		px := in[ws.start[x]:]
		px = px[:len(wt)]
		var s0, s1 int32
		t := 0
		for ; t+4 <= len(wt); t += 4 {
			w4, p4 := wt[t:t+4:t+4], px[t:t+4:t+4]
			s0 += int32(p4[0])*w4[0] + int32(p4[1])*w4[1]
			s1 += int32(p4[2])*w4[2] + int32(p4[3])*w4[3]
		}
		for ; t < len(wt); t++ {
			s0 += int32(px[t]) * wt[t]
		}
		out[x] = clampRound(s0 + s1)
	}
}

// vaccum adds row×v to acc.
func vaccum(acc []int32, row []uint8, v int32) {
	row = row[:len(acc)]
	i := 0
	for ; i+4 <= len(acc); i += 4 {
		a, r := acc[i:i+4:i+4], row[i:i+4:i+4]
		a[0] += int32(r[0]) * v
		a[1] += int32(r[1]) * v
		a[2] += int32(r[2]) * v
		a[3] += int32(r[3]) * v
	}
	for ; i < len(acc); i++ {
		acc[i] += int32(row[i]) * v
	}
}
