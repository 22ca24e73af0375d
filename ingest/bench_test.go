package ingest

import (
	"bytes"
	"image/jpeg"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/disintegration/imaging"

	"github.com/idbatch/idbatch/ingest/ingesttest"
)

var phone12MP = sync.OnceValue(func() []byte { return ingesttest.PhotoJPEG(4032, 3024, 6, 1) })

// cpuTime is the CPU time (user + system) of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCPU runs fn b.N times and reports CPU milliseconds per image (run
// with -cpu 1 for "one core").
func benchCPU(b *testing.B, fn func() error) {
	b.Helper()
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkNormalizePhone12MP: the anchor, a 12 MP phone JPEG with
// EXIF orientation 6 scaled to a long side of 2000, through Normalize.
func BenchmarkNormalizePhone12MP(b *testing.B) {
	data := phone12MP()
	opt := NormalizeOptions{MaxSide: 2000}
	benchCPU(b, func() error { _, err := Normalize(data, opt); return err })
}

// BenchmarkImagingDefaultsPhone12MP is what Normalize did first: imaging
// with auto-orientation, Fit with CatmullRom, the standard encoder.
func BenchmarkImagingDefaultsPhone12MP(b *testing.B) {
	data := phone12MP()
	benchCPU(b, func() error {
		img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
		if err != nil {
			return err
		}
		img = imaging.Fit(img, 2000, 2000, imaging.CatmullRom)
		var buf bytes.Buffer
		return jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	})
}
