package ingest

import (
	"bytes"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

// maxFuzzImage bounds fuzzed image inputs: the property is about
// malformed headers and structures, which are small.
const maxFuzzImage = 256 << 10

// addCorpusImages seeds f with the images of testdata/corpus (all small).
func addCorpusImages(f *testing.F, only func(name string) bool) {
	f.Helper()
	for _, dir := range []string{"testdata/corpus/ok", "testdata/corpus/reject"} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range ents {
			if only != nil && !only(e.Name()) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			if len(b) <= maxFuzzImage {
				f.Add(b)
			}
		}
	}
}

// FuzzExifOrientation: the JPEG marker readers (EXIF orientation, scan
// count, metadata stripper) never panic on any bytes; the orientation is
// always 1..8, the scan count stops past its limit; a stripped JPEG is
// never longer than its input and still starts with SOI.
func FuzzExifOrientation(f *testing.F) {
	addCorpusImages(f, func(n string) bool { return filepath.Ext(n) == ".jpg" })
	f.Add(withEXIFOrientation(encJPEG(f, gradient(16, 8), 80), 6))
	f.Add(withEXIFOrientation(encJPEG(f, gradient(8, 16), 80), 8))
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x08Exif\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzImage {
			return
		}
		if o := exifOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		if n := jpegScans(data, maxJPEGScans); n < 0 || n > maxJPEGScans+1 {
			t.Fatalf("%d scans counted, limit %d", n, maxJPEGScans)
		}
		out, err := stripJPEGMetadata(data)
		if err != nil {
			return
		}
		if len(out) > len(data) || !bytes.HasPrefix(out, []byte{0xff, 0xd8}) {
			t.Fatalf("stripped %d bytes from %d, prefix % x", len(out), len(data), out[:min(len(out), 2)])
		}
	})
}

// FuzzNormalize: Normalize never panics, allocates in proportion to the
// pixels its options allow (MaxPixels bounds what is decoded), and every
// input ends as a JPEG within the limits or as a reject with a code.
func FuzzNormalize(f *testing.F) {
	addCorpusImages(f, nil)
	f.Add(encPNG(f, gradient(40, 30)))
	f.Add(encGIF(f, paletted(30, 40)))
	f.Add(encBMP(f, gradient(20, 20)))
	f.Add(encTIFF(f, gradient(20, 20)))
	f.Add(withEXIFOrientation(encJPEG(f, gradient(40, 24), 80), 6))
	f.Add(webpLossless(24, 24, color.NRGBA{R: 200, A: 255}))
	f.Add(pngBomb(100000, 100000))
	opt := NormalizeOptions{MaxSide: 64, MinSide: 4, MaxPixels: 1 << 18, MaxImageBytes: 64 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzImage {
			return
		}
		out, err := Normalize(data, opt)
		if err != nil {
			if pipeline.RejectCode(err) == "" {
				t.Fatalf("error without a reject code: %v", err)
			}
			return
		}
		cfg, format, derr := image.DecodeConfig(bytes.NewReader(out))
		if derr != nil || format != "jpeg" {
			t.Fatalf("output is not a JPEG: %v %q", derr, format)
		}
		if max(cfg.Width, cfg.Height) > opt.MaxSide || len(out) > opt.MaxImageBytes {
			t.Fatalf("output %dx%d, %d bytes: over the limits", cfg.Width, cfg.Height, len(out))
		}
	})
}
