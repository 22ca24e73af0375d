package bench

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
	"github.com/disintegration/imaging"

	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/ingest/ingesttest"
)

// The anchor: a 12 MP phone JPEG (4032×3024 stored) with EXIF
// orientation 6, scaled to a long side of 2000, JPEG quality 90, metadata
// stripped. Run with -cpu 1: CPU milliseconds per image on one core
// (libvips runs with one thread).
const longSide = 2000

var (
	phone = sync.OnceValue(func() []byte { return ingesttest.PhotoJPEG(4032, 3024, 6, 1) })
	// reference: Lanczos-3 of the full decoded, upright image (imaging,
	// float arithmetic), the yardstick of every output's luma PSNR.
	reference = sync.OnceValue(func() image.Image {
		src, err := imaging.Decode(bytes.NewReader(phone()), imaging.AutoOrientation(true))
		if err != nil {
			panic(err)
		}
		return imaging.Fit(src, longSide, longSide, imaging.Lanczos)
	})
)

func TestMain(m *testing.M) {
	vips.LoggingSettings(nil, vips.LogLevelError)
	vips.Startup(&vips.Config{ConcurrencyLevel: 1})
	code := m.Run()
	vips.Shutdown()
	os.Exit(code)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run measures fn and reports CPU ms per image and the luma PSNR (dB) of
// its output against the Lanczos reference.
func run(b *testing.B, fn func([]byte) ([]byte, error)) {
	data := phone()
	out, err := fn(data)
	if err != nil {
		b.Fatal(err)
	}
	got, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		b.Fatal(err)
	}
	ref := reference()
	if got.Bounds().Size() != ref.Bounds().Size() {
		b.Fatalf("output %v, reference %v", got.Bounds(), ref.Bounds())
	}
	psnr := ingesttest.LumaPSNR(ref, got, 4)
	start := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if _, err := fn(data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(psnr, "psnr-dB")
	b.ReportMetric(float64(len(out)), "out-bytes")
}

// BenchmarkLibvipsResize is the common govips path: load, auto-rotate,
// resize with Lanczos-3, save.
func BenchmarkLibvipsResize(b *testing.B) {
	run(b, func(data []byte) ([]byte, error) {
		img, err := vips.NewImageFromBuffer(data)
		if err != nil {
			return nil, err
		}
		defer img.Close()
		if err := img.AutoRotate(); err != nil {
			return nil, err
		}
		if err := img.Resize(float64(longSide)/float64(max(img.Width(), img.Height())), vips.KernelLanczos3); err != nil {
			return nil, err
		}
		out, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 90, StripMetadata: true})
		return out, err
	})
}

// BenchmarkLibvipsThumbnail is vips_thumbnail: shrink-on-load (libjpeg-turbo
// scales in the DCT domain), then Lanczos-3 for the rest, auto-rotated.
func BenchmarkLibvipsThumbnail(b *testing.B) {
	run(b, func(data []byte) ([]byte, error) {
		img, err := vips.NewThumbnailFromBuffer(data, longSide, longSide, vips.InterestingNone)
		if err != nil {
			return nil, err
		}
		defer img.Close()
		out, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 90, StripMetadata: true})
		return out, err
	})
}

// BenchmarkIngestNormalize is idbatch's default, pure-Go build.
func BenchmarkIngestNormalize(b *testing.B) {
	opt := ingest.NormalizeOptions{MaxSide: longSide, JPEGQuality: 90}
	run(b, func(data []byte) ([]byte, error) { return ingest.Normalize(data, opt) })
}

// BenchmarkImagingDefaults is the first version of Normalize: imaging with
// auto-orientation, Fit with CatmullRom, the standard encoder.
func BenchmarkImagingDefaults(b *testing.B) {
	run(b, func(data []byte) ([]byte, error) {
		img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
		if err != nil {
			return nil, err
		}
		img = imaging.Fit(img, longSide, longSide, imaging.CatmullRom)
		var buf bytes.Buffer
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
		return buf.Bytes(), err
	})
}
