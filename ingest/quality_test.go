package ingest

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/idbatch/idbatch/ingest/ingesttest"
	"github.com/idbatch/idbatch/pipeline"
)

// TestNormalizeQualityAgainstLanczos: resampling the YCbCr planes (and
// orienting after resizing) must not lose quality against what Normalize
// did first (imaging: decode to NRGBA, orient, CatmullRom): its luma PSNR
// against a Lanczos-3 reference of the upright image is at least as high.
func TestNormalizeQualityAgainstLanczos(t *testing.T) {
	t.Parallel()
	w, h := 1344, 1008
	if raceEnabled {
		w, h = 672, 504
	}
	data := ingesttest.PhotoJPEG(w, h, 6, 3)
	side := w / 2
	src, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		t.Fatal(err)
	}
	ref := imaging.Fit(src, side, side, imaging.Lanczos)

	var old bytes.Buffer
	if err := jpeg.Encode(&old, imaging.Fit(src, side, side, imaging.CatmullRom), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	oldImg, _ := jpeg.Decode(&old)
	out, err := Normalize(data, NormalizeOptions{MaxSide: side, JPEGQuality: 90})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeOut(t, out)
	if got.Bounds() != ref.Bounds() {
		t.Fatalf("size %v, want %v", got.Bounds(), ref.Bounds())
	}
	before, after := ingesttest.LumaPSNR(ref, oldImg, 4), ingesttest.LumaPSNR(ref, got, 4)
	t.Logf("luma PSNR against Lanczos: imaging CatmullRom %.2f dB, Normalize %.2f dB", before, after)
	if after < before {
		t.Errorf("Normalize %.2f dB < imaging %.2f dB", after, before)
	}
}

// TestPreparerBoundsBytesInFlight: with room for one decoded image, images
// are normalized one at a time however many records are prepared at once;
// an image heavier than the whole budget still runs (alone).
func TestPreparerBoundsBytesInFlight(t *testing.T) {
	dir := t.TempDir()
	img := encJPEG(t, gradient(400, 320), 90)
	weight := normalizeWeight(img)
	if weight < 400*320*3 {
		t.Fatalf("weight %d for a 400x320 JPEG", weight)
	}
	for _, name := range []string{"front.jpg", "face.jpg"} {
		// Rotated, so that it is decoded, not passed through.
		if err := os.WriteFile(filepath.Join(dir, name), ingesttest.WithEXIFOrientation(img, 3), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var inFlight, peak atomic.Int64
	normalizeHook = func(start bool) {
		if start {
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
		} else {
			inFlight.Add(-1)
		}
	}
	defer func() { normalizeHook = nil }()
	for _, budget := range []int64{weight + weight/2, weight / 3} {
		peak.Store(0)
		p := &Preparer{Objects: &Objects{BaseDir: dir}, MaxBytesInFlight: budget}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				rec := pipeline.Record{Input: pipeline.Input{ClientID: "c", Country: "LT", DocumentType: "PASSPORT",
					Sources: map[pipeline.Side]string{pipeline.SideFront: "front.jpg", pipeline.SideFace: "face.jpg"}}}
				if _, err := p.Prepare(t.Context(), rec); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if peak.Load() != 1 {
			t.Errorf("budget %d, image weight %d: %d images normalized at once, want 1", budget, weight, peak.Load())
		}
	}
}
