package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idbatch/idbatch/pipeline"
)

// prepFixture serves a record's images from a fake S3 and counts requests.
type prepFixture struct {
	f        *fakeS3
	requests atomic.Int64
	p        *Preparer
}

func newPrepFixture(t *testing.T) *prepFixture {
	t.Helper()
	pf := &prepFixture{f: newFakeS3(t, "bkt")}
	pf.f.wrap = func(w http.ResponseWriter, r *http.Request) bool {
		pf.requests.Add(1)
		if strings.Contains(r.URL.Path, "forbidden") {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return true
		}
		return false
	}
	pf.p = &Preparer{Objects: &Objects{S3: pf.f.client, BaseBucket: "bkt"}}
	return pf
}

func idCard(front, back, face string) pipeline.Record {
	in := pipeline.Input{ClientID: "c1", Country: "LT", DocumentType: "ID_CARD", Sources: map[pipeline.Side]string{}}
	for side, ref := range map[pipeline.Side]string{pipeline.SideFront: front, pipeline.SideBack: back, pipeline.SideFace: face} {
		if ref != "" {
			in.Sources[side] = ref
		}
	}
	return pipeline.Record{Job: "j", Key: "c1", Input: in}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	pf := newPrepFixture(t)
	pf.f.put(t, "bkt", "c1/front.jpg", encJPEG(t, gradient(400, 300), 95))
	pf.f.put(t, "bkt", "c1/back.png", encPNG(t, gradient(400, 300)))
	pf.f.put(t, "bkt", "c1/face.gif", encGIF(t, paletted(300, 400)))
	pf.f.put(t, "bkt", "c1/bill.tiff", encTIFF(t, gradient(300, 300)))
	rec := idCard("c1/front.jpg", "s3://bkt/c1/back.png", "c1/face.gif")
	rec.Input.Sources[pipeline.SideUtilityBill] = "c1/bill.tiff"

	got, err := pf.p.Prepare(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Images) != 4 || len(got.Hashes) != 4 {
		t.Fatalf("%d images, %d hashes", len(got.Images), len(got.Hashes))
	}
	total := 0
	for side, img := range got.Images {
		sum := sha256.Sum256(img)
		if got.Hashes[side] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: hash mismatch", side)
		}
		decodeOut(t, img)
		total += len(img)
	}
	if got.Bytes != total || got.RequestBytes < total*4/3 || got.RequestBytes > total*4/3+1024 {
		t.Errorf("bytes %d request %d, images %d", got.Bytes, got.RequestBytes, total)
	}
}

func TestPrepareRejects(t *testing.T) {
	t.Parallel()
	pf := newPrepFixture(t)
	good := encJPEG(t, gradient(400, 320), 90)
	pf.f.put(t, "bkt", "front.jpg", good)
	pf.f.put(t, "bkt", "face.jpg", good)
	pf.f.put(t, "bkt", "text.jpg", []byte("just some text, not an image"))
	ctx := context.Background()

	t.Run("missing object", func(t *testing.T) {
		_, err := pf.p.Prepare(ctx, idCard("front.jpg", "back.jpg", "face.jpg"))
		wantReject(t, err, pipeline.RejectMissingObject)
		if !strings.Contains(err.Error(), "BACK: object not found") {
			t.Errorf("detail: %v", err)
		}
	})
	t.Run("missing required side, nothing fetched", func(t *testing.T) {
		before := pf.requests.Load()
		_, err := pf.p.Prepare(ctx, idCard("front.jpg", "", "face.jpg"))
		wantReject(t, err, pipeline.RejectMissingRequiredSide)
		rec := idCard("front.jpg", "front.jpg", "face.jpg")
		rec.Input.Country = "XX"
		_, err = pf.p.Prepare(ctx, rec)
		wantReject(t, err, pipeline.RejectBadCountry)
		if n := pf.requests.Load() - before; n != 0 {
			t.Errorf("%d requests for invalid records", n)
		}
	})
	t.Run("first side in order wins, whatever the timing", func(t *testing.T) {
		// FRONT: infrastructure error; BACK: missing; FACE: not an image.
		for i := 0; i < 10; i++ {
			_, err := pf.p.Prepare(ctx, idCard("forbidden/front.jpg", "back.jpg", "text.jpg"))
			wantReject(t, err, pipeline.RejectMissingObject)
			if !strings.HasPrefix(err.(*pipeline.RejectError).Detail, "BACK:") {
				t.Fatalf("detail: %v", err)
			}
		}
		_, err := pf.p.Prepare(ctx, idCard("front.jpg", "front.jpg", "text.jpg"))
		wantReject(t, err, pipeline.RejectNotAnImage)
	})
	t.Run("infrastructure error is not a reject", func(t *testing.T) {
		_, err := pf.p.Prepare(ctx, idCard("forbidden/front.jpg", "front.jpg", "face.jpg"))
		if err == nil || pipeline.RejectCode(err) != "" || !strings.Contains(err.Error(), "FRONT") {
			t.Fatalf("got %v", err)
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
			t.Errorf("chain lost the 403: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := pf.p.Prepare(cctx, idCard("front.jpg", "front.jpg", "face.jpg"))
		if !errors.Is(err, context.Canceled) || pipeline.RejectCode(err) != "" {
			t.Errorf("got %v", err)
		}
	})
}

func TestPrepareRequestSizeLimit(t *testing.T) {
	t.Parallel()
	pf := newPrepFixture(t)
	// Noise compresses badly: each side is about 100 KB at quality 90. BMP
	// costs nothing to encode, which matters under the race detector.
	pf.f.put(t, "bkt", "front.bmp", encBMP(t, noise(320, 300, 1)))
	pf.f.put(t, "bkt", "back.bmp", encBMP(t, noise(320, 300, 2)))
	pf.f.put(t, "bkt", "face.bmp", encBMP(t, noise(300, 320, 3)))
	rec := idCard("front.bmp", "back.bmp", "face.bmp")
	ctx := context.Background()

	full, err := pf.p.Prepare(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("normalized again to fit", func(t *testing.T) {
		limit := full.RequestBytes * 85 / 100
		p := &Preparer{Objects: pf.p.Objects, MaxRequestBytes: limit}
		got, err := p.Prepare(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if got.RequestBytes > limit || got.Bytes >= full.Bytes {
			t.Errorf("request %d bytes (limit %d), images %d (were %d)", got.RequestBytes, limit, got.Bytes, full.Bytes)
		}
	})
	t.Run("cannot fit", func(t *testing.T) {
		p := &Preparer{Objects: pf.p.Objects, MaxRequestBytes: 60_000}
		_, err := p.Prepare(ctx, rec)
		wantReject(t, err, pipeline.RejectCannotFitSizeLimit)
		p = &Preparer{Objects: pf.p.Objects, MaxRequestBytes: 600}
		_, err = p.Prepare(ctx, rec)
		wantReject(t, err, pipeline.RejectCannotFitSizeLimit)
	})
}
