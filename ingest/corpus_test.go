package ingest

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/tiff"

	"github.com/idbatch/idbatch/ingest/ingesttest"
	"github.com/idbatch/idbatch/pipeline"
)

// The corpus (testdata/corpus) holds a small file for every supported
// format and every reject reason, and a manifest (manifest.csv) that names
// them, with the reason each row must get in its "expect" column (empty:
// ready to submit). `go test ./ingest -run TestCorpus -update-corpus`
// rewrites the files Go can encode; the three that need libvips are made by
// testdata/corpus/make-vips.sh. Normalization runs with CorpusOptions.

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the Go-generated files of testdata/corpus")

// corpusOptions are the normalization options the corpus is labelled for:
// small images and a small budget keep the files small, and let a small
// file be cannot_fit_size_limit.
var corpusOptions = NormalizeOptions{MinSide: 100, MaxImageBytes: 10_000}

const corpusDir = "testdata/corpus"

// corpusFormats maps each supported input format to the corpus files that
// exercise it; the test checks they all end up ready.
var corpusFormats = map[string][]string{
	"jpeg baseline":    {"ok/jpeg-baseline.jpg", "ok/jpeg-exif6.jpg"},
	"jpeg progressive": {"ok/jpeg-progressive.jpg"},
	"jpeg cmyk":        {"ok/jpeg-cmyk.jpg"},
	"jpeg grayscale":   {"ok/jpeg-gray.jpg"},
	"png 8-bit":        {"ok/png-8bit.png"},
	"png 8-bit alpha":  {"ok/png-8bit-alpha.png"},
	"png 16-bit alpha": {"ok/png-16bit-alpha.png"},
	"webp lossy":       {"ok/webp-lossy.webp"},
	"webp lossless":    {"ok/webp-lossless.webp"},
	"tiff":             {"ok/tiff-deflate.tif"},
	"bmp":              {"ok/bmp.bmp"},
	"gif":              {"ok/gif.gif"},
}

func writeCorpus(t *testing.T) {
	t.Helper()
	put := func(name string, data []byte) {
		p := filepath.Join(corpusDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := gradient(200, 160)
	put("ok/jpeg-baseline.jpg", encJPEG(t, base, 80))
	put("ok/jpeg-exif6.jpg", ingesttest.WithEXIFOrientation(encJPEG(t, gradient(160, 200), 80), 6))
	gray := image.NewGray(image.Rect(0, 0, 200, 160))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i % 200)
	}
	put("ok/jpeg-gray.jpg", encJPEG(t, gray, 80))
	put("ok/png-8bit.png", encPNG(t, smooth(200, 160, 255)))
	put("ok/png-8bit-alpha.png", encPNG(t, smooth(200, 160, 128)))
	n64 := image.NewNRGBA64(image.Rect(0, 0, 200, 160))
	for y := 0; y < 160; y++ {
		for x := 0; x < 200; x++ {
			n64.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 327), uint16(y * 409), 0x8000, uint16(0xffff - x*200)})
		}
	}
	put("ok/png-16bit-alpha.png", encPNG(t, n64))
	put("ok/webp-lossless.webp", webpLossless(200, 160, color.NRGBA{10, 120, 200, 255}))
	var tb bytes.Buffer
	if err := tiff.Encode(&tb, gray, &tiff.Options{Compression: tiff.Deflate, Predictor: true}); err != nil {
		t.Fatal(err)
	}
	put("ok/tiff-deflate.tif", tb.Bytes())
	put("ok/bmp.bmp", encBMP(t, gray.SubImage(image.Rect(0, 0, 128, 100))))
	put("ok/gif.gif", encGIF(t, paletted(200, 160)))

	put("reject/empty_object.jpg", nil)
	put("reject/not_an_image.jpg", []byte("client_id,first_name\ncust-1,Jane\n"))
	put("reject/unsupported_format.heic", append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 32)...))
	valid := encJPEG(t, base, 80)
	put("reject/corrupt_image.jpg", valid[:len(valid)/2])
	put("reject/too_small.png", encPNG(t, smooth(120, 90, 255)))
	put("reject/too_large_pixels.png", pngBomb(100000, 100000))
	put("reject/cannot_fit_size_limit.jpg", encJPEG(t, noise(200, 120, 9), 50))
}

// smooth is a small, quickly compressed image with an alpha (255: opaque).
func smooth(w, h int, alpha uint8) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 160, alpha})
		}
	}
	return m
}

func TestCorpus(t *testing.T) {
	if *updateCorpus {
		writeCorpus(t)
	}
	t.Parallel()
	m, err := OpenManifest(context.Background(), filepath.Join(corpusDir, "manifest.csv"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := &Preparer{Objects: m.Objects(nil, ObjectOptions{}), Options: corpusOptions}
	seenReason := map[string]bool{}
	seenFile := map[string]bool{}
	err = m.Read("corpus", func(rec pipeline.Record) error {
		want, labelled := rec.Input.Extra["expect"]
		if !labelled { // a row that does not parse has no expect column
			want = pipeline.RejectBadManifestRow
		}
		got := rec.RejectReason
		if rec.State != pipeline.StateRejected {
			prep, err := p.Prepare(context.Background(), rec)
			got = pipeline.RejectCode(err)
			if err != nil && got == "" {
				t.Errorf("line %d: infrastructure error %v", rec.Line, err)
			}
			for side, img := range prep.Images {
				if len(img) > corpusOptions.MaxImageBytes {
					t.Errorf("line %d %s: %d bytes", rec.Line, side, len(img))
				}
				if _, err := jpeg.Decode(bytes.NewReader(img)); err != nil {
					t.Errorf("line %d %s: output is not a JPEG: %v", rec.Line, side, err)
				}
			}
			if err == nil {
				for _, ref := range rec.Input.Sources {
					seenFile[ref] = true
				}
			}
		}
		if got != want {
			t.Errorf("line %d (%s): got %q, want %q", rec.Line, rec.Input.Sources[pipeline.SideFront], got, want)
		}
		seenReason[got] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{
		pipeline.RejectMissingObject, pipeline.RejectEmptyObject, pipeline.RejectNotAnImage, pipeline.RejectUnsupportedFormat,
		pipeline.RejectCorruptImage, pipeline.RejectTooSmall, pipeline.RejectTooLargePixels, pipeline.RejectCannotFitSizeLimit,
		pipeline.RejectMissingRequiredSide, pipeline.RejectBadCountry, pipeline.RejectBadDocumentType, pipeline.RejectBadClientID,
		pipeline.RejectBadManifestRow,
	} {
		if !seenReason[code] {
			t.Errorf("no corpus row is rejected with %s", code)
		}
	}
	for format, files := range corpusFormats {
		for _, f := range files {
			if !seenFile[f] {
				t.Errorf("%s: %s was not normalized in a ready record", format, f)
			}
		}
	}
	if !seenReason[""] {
		t.Error("no ready record")
	}
}
