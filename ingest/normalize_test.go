package ingest

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"runtime"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

// decodeOut decodes a Normalize result, which must be a JPEG without any
// APP1 (EXIF/XMP) segment.
func decodeOut(t *testing.T, out []byte) image.Image {
	t.Helper()
	for _, m := range jpegMarkers(t, out) {
		if m == 0xe1 {
			t.Fatalf("output has an APP1 segment")
		}
	}
	img, format, err := image.Decode(bytes.NewReader(out))
	if err != nil || format != "jpeg" {
		t.Fatalf("output is not a JPEG: %v %q", err, format)
	}
	return img
}

func wantReject(t *testing.T, err error, code string) {
	t.Helper()
	if got := pipeline.RejectCode(err); got != code {
		t.Fatalf("got error %v (code %q), want reject %q", err, got, code)
	}
}

// near reports whether c is within tol of want on R, G and B.
func near(c color.Color, want color.RGBA, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { x := int(a>>8) - int(b); return x >= -tol && x <= tol }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func TestNormalizeFormats(t *testing.T) {
	t.Parallel()
	base := gradient(400, 320)

	gray := image.NewGray(image.Rect(0, 0, 400, 320))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}

	// 8-bit and 16-bit PNG with alpha: left half transparent, right half
	// opaque red; both must come out white on the left.
	nrgba := image.NewNRGBA(image.Rect(0, 0, 400, 320))
	nrgba64 := image.NewNRGBA64(image.Rect(0, 0, 400, 320))
	for y := 0; y < 320; y++ {
		for x := 0; x < 400; x++ {
			if x >= 200 {
				nrgba.SetNRGBA(x, y, color.NRGBA{255, 0, 0, 255})
				nrgba64.SetNRGBA64(x, y, color.NRGBA64{0xffff, 0, 0, 0xffff})
			} else {
				nrgba.SetNRGBA(x, y, color.NRGBA{0, 0, 255, 0}) // fully transparent blue
				nrgba64.SetNRGBA64(x, y, color.NRGBA64{0, 0xffff, 0, 0})
			}
		}
	}
	half := image.NewNRGBA(image.Rect(0, 0, 400, 320))
	for i := 0; i < len(half.Pix); i += 4 {
		copy(half.Pix[i:], []byte{0, 0, 0, 128}) // 50% black over white = mid gray
	}

	tests := []struct {
		name       string
		data       []byte
		w, h       int
		left, righ color.RGBA // expected colour at (50,160) and (350,160), if set
		gray       bool       // output is a one-channel JPEG
	}{
		{name: "baseline jpeg", data: encJPEG(t, base, 95), w: 400, h: 320},
		{name: "grayscale jpeg", data: encJPEG(t, gray, 95), w: 400, h: 320, gray: true},
		{name: "png 8-bit alpha", data: encPNG(t, nrgba), w: 400, h: 320, left: color.RGBA{255, 255, 255, 255}, righ: color.RGBA{255, 0, 0, 255}},
		{name: "png 16-bit alpha", data: encPNG(t, nrgba64), w: 400, h: 320, left: color.RGBA{255, 255, 255, 255}, righ: color.RGBA{255, 0, 0, 255}},
		{name: "png half transparent", data: encPNG(t, half), w: 400, h: 320, left: color.RGBA{127, 127, 127, 255}, righ: color.RGBA{127, 127, 127, 255}},
		{name: "gif", data: encGIF(t, paletted(400, 320)), w: 400, h: 320},
		{name: "bmp", data: encBMP(t, base), w: 400, h: 320},
		{name: "tiff", data: encTIFF(t, base), w: 400, h: 320},
		{name: "webp lossless", data: webpLossless(400, 320, color.NRGBA{10, 200, 30, 255}), w: 400, h: 320,
			left: color.RGBA{10, 200, 30, 255}, righ: color.RGBA{10, 200, 30, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Normalize(tt.data, NormalizeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			img := decodeOut(t, out)
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Fatalf("size %v, want %dx%d", b, tt.w, tt.h)
			}
			if _, isGray := img.(*image.Gray); isGray != tt.gray {
				t.Errorf("output %T, want gray=%v", img, tt.gray)
			}
			if tt.left != (color.RGBA{}) {
				if c := img.At(50, 160); !near(c, tt.left, 8) {
					t.Errorf("left pixel %v, want %v", c, tt.left)
				}
				if c := img.At(350, 160); !near(c, tt.righ, 8) {
					t.Errorf("right pixel %v, want %v", c, tt.righ)
				}
			}
		})
	}
}

func TestNormalizeEXIFOrientation(t *testing.T) {
	t.Parallel()
	// 400x320: left half red, right half blue. Orientation 6 means "rotate
	// 90° clockwise to display": the left column becomes the top row.
	src := image.NewRGBA(image.Rect(0, 0, 400, 320))
	for y := 0; y < 320; y++ {
		for x := 0; x < 400; x++ {
			c := color.RGBA{220, 20, 20, 255}
			if x >= 200 {
				c = color.RGBA{20, 20, 220, 255}
			}
			src.SetRGBA(x, y, c)
		}
	}
	data := withEXIFOrientation(encJPEG(t, src, 95), 6)
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data)); err != nil || cfg.Width != 400 {
		t.Fatalf("fixture: %v %+v", err, cfg)
	}
	if !bytes.Contains(data, []byte("Exif\x00\x00")) {
		t.Fatal("fixture has no EXIF")
	}
	out, err := Normalize(data, NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := decodeOut(t, out) // also: no APP1 left
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 400 {
		t.Fatalf("size %v, want 320x400 (rotated)", b)
	}
	if bytes.Contains(out, []byte("Exif")) {
		t.Error("output still holds Exif bytes")
	}
	if c := img.At(160, 50); !near(c, color.RGBA{220, 20, 20, 255}, 24) {
		t.Errorf("top %v, want red", c)
	}
	if c := img.At(160, 350); !near(c, color.RGBA{20, 20, 220, 255}, 24) {
		t.Errorf("bottom %v, want blue", c)
	}
}

func TestNormalizeDownscalesToMaxSide(t *testing.T) {
	t.Parallel()
	// Default options: a 3000x1500 photo becomes 2560x1280. Under the race
	// detector the same path runs on a 1000x500 image with MaxSide 800.
	w, h, opt := 3000, 1500, NormalizeOptions{}
	if raceEnabled {
		w, h, opt = 1000, 500, NormalizeOptions{MaxSide: 800}
	}
	maxSide := opt.WithDefaults().MaxSide
	out, err := Normalize(encJPEG(t, gradient(w, h), 90), opt)
	if err != nil {
		t.Fatal(err)
	}
	img := decodeOut(t, out)
	if b := img.Bounds(); b.Dx() != maxSide || b.Dy() != maxSide/2 {
		t.Fatalf("size %v, want %dx%d", b, maxSide, maxSide/2)
	}
	// Portrait: the longer side is the height.
	out, err = Normalize(encJPEG(t, gradient(h, w), 90), opt)
	if err != nil {
		t.Fatal(err)
	}
	if b := decodeOut(t, out).Bounds(); b.Dx() != maxSide/2 || b.Dy() != maxSide {
		t.Fatalf("portrait size %v", b)
	}
}

func TestNormalizeRejects(t *testing.T) {
	t.Parallel()
	valid := encJPEG(t, gradient(400, 320), 90)
	tests := []struct {
		name string
		data []byte
		opt  NormalizeOptions
		code string
	}{
		{"empty", nil, NormalizeOptions{}, pipeline.RejectEmptyObject},
		{"text", []byte("client_id,first_name\n1,Jane\n"), NormalizeOptions{}, pipeline.RejectNotAnImage},
		{"text starting with BM", []byte("BMW owners, please read this document"), NormalizeOptions{}, pipeline.RejectNotAnImage},
		{"mp4 is not an image", append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), make([]byte, 64)...), NormalizeOptions{}, pipeline.RejectNotAnImage},
		{"heic", append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...), NormalizeOptions{}, pipeline.RejectUnsupportedFormat},
		{"heif by compatible brand", append([]byte("\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heix"), make([]byte, 64)...), NormalizeOptions{}, pipeline.RejectUnsupportedFormat},
		{"avif", append([]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), make([]byte, 64)...), NormalizeOptions{}, pipeline.RejectUnsupportedFormat},
		{"jpeg 2000", []byte("\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 "), NormalizeOptions{}, pipeline.RejectUnsupportedFormat},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), NormalizeOptions{}, pipeline.RejectUnsupportedFormat},
		{"too small", encJPEG(t, gradient(640, 200), 90), NormalizeOptions{}, pipeline.RejectTooSmall},
		{"too small after min side raised", valid, NormalizeOptions{MinSide: 321}, pipeline.RejectTooSmall},
		{"too many pixels", valid, NormalizeOptions{MaxPixels: 400*320 - 1}, pipeline.RejectTooLargePixels},
		{"truncated jpeg", valid[:len(valid)/2], NormalizeOptions{}, pipeline.RejectCorruptImage},
		{"garbage after header", append(append([]byte{}, valid[:jpegHeaderLen(t, valid)]...), bytes.Repeat([]byte{0x13, 0x37, 0xff, 0x00}, 500)...), NormalizeOptions{}, pipeline.RejectCorruptImage},
		{"jpeg magic only", []byte("\xff\xd8\xff\xe0garbage"), NormalizeOptions{}, pipeline.RejectCorruptImage},
		{"truncated png", encPNG(t, gradient(400, 320))[:300], NormalizeOptions{}, pipeline.RejectCorruptImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Normalize(tt.data, tt.opt)
			wantReject(t, err, tt.code)
			if out != nil {
				t.Error("output with a reject")
			}
		})
	}
}

// jpegHeaderLen returns the offset of the entropy-coded data of a JPEG.
func jpegHeaderLen(t *testing.T, b []byte) int {
	t.Helper()
	i := 2
	for {
		m := b[i+1]
		n := int(b[i+2])<<8 | int(b[i+3])
		i += 2 + n
		if m == 0xda {
			return i
		}
	}
}

func TestNormalizeBombRejectedWithoutAllocating(t *testing.T) {
	bomb := pngBomb(100000, 100000) // 4e10 bytes if decoded
	if len(bomb) > 200 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Normalize(bomb, NormalizeOptions{})
	runtime.ReadMemStats(&after)
	wantReject(t, err, pipeline.RejectTooLargePixels)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes to reject a bomb", n)
	}
	// The boundary: exactly MaxPixels passes the header check.
	_, err = Normalize(pngBomb(1000, 1000), NormalizeOptions{MaxPixels: 1_000_000})
	if code := pipeline.RejectCode(err); code == pipeline.RejectTooLargePixels {
		t.Errorf("1000x1000 with MaxPixels 1e6: %v", err)
	}
}

func TestNormalizeSizeLimit(t *testing.T) {
	t.Parallel()
	src := noise(600, 400, 1)
	data := encBMP(t, src)
	q90 := len(encJPEG(t, src, 90))
	q55 := len(encJPEG(t, src, 55))
	if q55 >= q90 {
		t.Fatalf("fixture: q55 %d >= q90 %d", q55, q90)
	}

	t.Run("lower quality fits", func(t *testing.T) {
		t.Parallel()
		limit := (q55 + q90) / 2
		out, err := Normalize(data, NormalizeOptions{MaxImageBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > limit {
			t.Fatalf("%d bytes > %d", len(out), limit)
		}
		if b := decodeOut(t, out).Bounds(); b.Dx() != 600 || b.Dy() != 400 {
			t.Errorf("size %v: quality alone should have been enough", b)
		}
	})
	t.Run("smaller scale fits", func(t *testing.T) {
		t.Parallel()
		limit := q55 * 3 / 4 // below the lowest quality at full size
		out, err := Normalize(data, NormalizeOptions{MaxImageBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > limit {
			t.Fatalf("%d bytes > %d", len(out), limit)
		}
		b := decodeOut(t, out).Bounds()
		if b.Dx() >= 600 || b.Dy() < DefaultMinSide {
			t.Errorf("size %v: want downscaled, shorter side >= %d", b, DefaultMinSide)
		}
	})
	t.Run("cannot fit", func(t *testing.T) {
		t.Parallel()
		_, err := Normalize(data, NormalizeOptions{MaxImageBytes: 2000})
		wantReject(t, err, pipeline.RejectCannotFitSizeLimit)
	})
}

func TestSniffHandBuiltWebP(t *testing.T) {
	t.Parallel()
	w := webpLossless(301, 333, color.NRGBA{1, 2, 3, 255})
	cfg, format, err := image.DecodeConfig(bytes.NewReader(w))
	if err != nil || format != "webp" || cfg.Width != 301 || cfg.Height != 333 {
		t.Fatalf("%v %q %+v", err, format, cfg)
	}
}
