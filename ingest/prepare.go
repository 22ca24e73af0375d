package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"sync"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/idbatch/idbatch/pipeline"
)

// DefaultMaxRequestBytes bounds the /process body when
// Preparer.MaxRequestBytes is 0 (iDenfy documents 20 MB).
const DefaultMaxRequestBytes = 19_000_000

// requestOverhead is what a /process body holds besides the images: token,
// country, document type, braces. Per image, the key and quotes add
// len(side)+6.
const requestOverhead = 512

// Prepared is a record's images, ready for /process.
type Prepared struct {
	Images map[pipeline.Side][]byte // normalized JPEG per side
	Hashes map[pipeline.Side]string // hex sha256 of each image
	Bytes  int                      // sum of the image sizes (memory held)
	// RequestBytes estimates the /process body: base64 of every image plus
	// JSON overhead.
	RequestBytes int
}

// Preparer does everything a record needs before money is spent on it:
// validation, fetching, normalization, size checks. Safe for concurrent use.
type Preparer struct {
	Objects *Objects
	Options NormalizeOptions
	// MaxRequestBytes bounds RequestBytes (0: DefaultMaxRequestBytes). When
	// the images are over it, they are normalized again with a per-image
	// byte budget that fits; if that fails too, cannot_fit_size_limit.
	MaxRequestBytes int
	// MaxBytesInFlight bounds the memory that normalization holds at once,
	// across all concurrent Prepare calls: each image is weighted by its
	// decoded size, estimated from its header (DecodeConfig) before a pixel
	// is decoded, plus its encoded bytes. An image heavier than the bound
	// waits until it can run alone. 0 means DefaultMaxBytesInFlight. The
	// bound is by bytes, not by records: a few 24 MP photos take the room
	// of many small scans.
	MaxBytesInFlight int64

	once sync.Once
	sem  *semaphore.Weighted
	max  int64
}

// DefaultMaxBytesInFlight is Preparer.MaxBytesInFlight when it is 0: with
// Go's garbage collector doubling the live heap at worst, it keeps the
// process under 400 MB on 24-megapixel photos (see ingest/bench/rss).
const DefaultMaxBytesInFlight = 128 << 20

// normalizeWeight estimates the peak memory of normalizing data: the
// decoded pixels (by colour model; YCbCr counted as 4:4:4), the planes and
// resampling buffers (1.5 bytes a pixel), and the input itself.
func normalizeWeight(data []byte) int64 {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return int64(len(data))
	}
	var bpp float64
	switch cfg.ColorModel {
	case color.GrayModel:
		bpp = 1
	case color.Gray16Model:
		bpp = 2
	case color.YCbCrModel:
		bpp = 3
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	default:
		if _, ok := cfg.ColorModel.(color.Palette); ok {
			bpp = 1
		} else {
			bpp = 4
		}
	}
	return int64(len(data)) + int64(float64(cfg.Width)*float64(cfg.Height)*(bpp+1.5))
}

func (p *Preparer) init() {
	p.once.Do(func() {
		p.max = p.MaxBytesInFlight
		if p.max <= 0 {
			p.max = DefaultMaxBytesInFlight
		}
		p.sem = semaphore.NewWeighted(p.max)
	})
}

// side fetches and normalizes one image inside the in-flight budget: a
// reservation of an eighth of the budget covers the fetch; once the bytes
// are here, the weight becomes the image's estimated peak (waiting, if it
// is heavier, in FIFO order, so no new fetch starts meanwhile). The input
// bytes are dropped as soon as the image is normalized.
func (p *Preparer) side(ctx context.Context, ref string, opt NormalizeOptions) ([]byte, error) {
	p.init()
	held := p.max / 8
	if err := p.sem.Acquire(ctx, held); err != nil {
		return nil, err
	}
	defer func() { p.sem.Release(held) }()
	raw, err := p.Objects.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	switch w := min(normalizeWeight(raw), p.max); {
	case w > held:
		p.sem.Release(held)
		held = 0
		if err := p.sem.Acquire(ctx, w); err != nil {
			return nil, err
		}
		held = w
	case w < held:
		p.sem.Release(held - w)
		held = w
	}
	if normalizeHook != nil {
		normalizeHook(true)
		defer normalizeHook(false)
	}
	return Normalize(raw, opt)
}

// normalizeHook, when set (by tests), is called as a normalization starts
// and as it ends.
var normalizeHook func(start bool)

// Prepare validates rec.Input (see Validate), then fetches every side in
// rec.Input.Sources concurrently and normalizes it.
//
// A *pipeline.RejectError means the record can never be verified as it is;
// its detail names the side (e.g. "FRONT: object not found"). When several
// sides fail, the reject of the first side in pipeline.Sides order wins
// over any other error, so the outcome does not depend on timing. Any other
// error (S3 unavailable, ctx cancelled) is an infrastructure error: the
// record may succeed later. Nothing is written to disk.
func (p *Preparer) Prepare(ctx context.Context, rec pipeline.Record) (Prepared, error) {
	if err := Validate(rec.Input); err != nil {
		return Prepared{}, err
	}
	if p.Objects == nil {
		return Prepared{}, errors.New("ingest: preparer has no Objects")
	}
	opt := p.Options.WithDefaults()
	limit := p.MaxRequestBytes
	if limit <= 0 {
		limit = DefaultMaxRequestBytes
	}

	var sides []pipeline.Side
	for _, s := range pipeline.Sides {
		if rec.Input.Sources[s] != "" {
			sides = append(sides, s)
		}
	}
	type slot struct {
		img []byte
		err error
	}
	slots := make([]slot, len(sides))
	// Goroutines never return an error: a failing side must not cancel
	// the others, or which reject wins would depend on timing.
	var g errgroup.Group
	for i, side := range sides {
		g.Go(func() error {
			slots[i].img, slots[i].err = p.side(ctx, rec.Input.Sources[side], opt)
			return nil
		})
	}
	g.Wait()
	if err := firstError(sides, func(i int) error { return slots[i].err }); err != nil {
		return Prepared{}, err
	}

	if size := requestBytes(sides, func(i int) int { return len(slots[i].img) }); size > limit {
		// Normalize again with an equal share of the request per image,
		// in decoded bytes (base64 is 4/3 of them).
		budget := (limit - requestOverhead - len(sides)*32) / len(sides) * 3 / 4
		if budget <= 0 {
			return Prepared{}, pipeline.Reject(pipeline.RejectCannotFitSizeLimit,
				fmt.Sprintf("request limit %d bytes leaves no room for %d images", limit, len(sides)))
		}
		tight := opt
		tight.MaxImageBytes = min(opt.MaxImageBytes, budget)
		var g errgroup.Group
		for i, side := range sides {
			if len(slots[i].img) <= budget {
				continue
			}
			// Fetched again: holding every input until the request size
			// is known would hold them all for this rare case.
			g.Go(func() error {
				slots[i].img, slots[i].err = p.side(ctx, rec.Input.Sources[side], tight)
				return nil
			})
		}
		g.Wait()
		if err := firstError(sides, func(i int) error { return slots[i].err }); err != nil {
			if re := (*pipeline.RejectError)(nil); errors.As(err, &re) && re.Code == pipeline.RejectCannotFitSizeLimit {
				return Prepared{}, pipeline.Reject(re.Code, fmt.Sprintf("request of %d bytes is over %d: %s", size, limit, re.Detail))
			}
			return Prepared{}, err
		}
		if size := requestBytes(sides, func(i int) int { return len(slots[i].img) }); size > limit {
			return Prepared{}, pipeline.Reject(pipeline.RejectCannotFitSizeLimit,
				fmt.Sprintf("request would be %d bytes, more than %d", size, limit))
		}
	}

	out := Prepared{Images: make(map[pipeline.Side][]byte, len(sides)), Hashes: make(map[pipeline.Side]string, len(sides))}
	for i, side := range sides {
		img := slots[i].img
		sum := sha256.Sum256(img)
		out.Images[side] = img
		out.Hashes[side] = hex.EncodeToString(sum[:])
		out.Bytes += len(img)
	}
	out.RequestBytes = requestBytes(sides, func(i int) int { return len(slots[i].img) })
	return out, nil
}

// firstError returns the first reject in side order, else the first other
// error, each naming its side.
func firstError(sides []pipeline.Side, errOf func(int) error) error {
	var other error
	for i, side := range sides {
		err := errOf(i)
		if err == nil {
			continue
		}
		var re *pipeline.RejectError
		if errors.As(err, &re) {
			return pipeline.Reject(re.Code, string(side)+": "+re.Detail)
		}
		if other == nil {
			other = fmt.Errorf("ingest: %s: %w", side, err)
		}
	}
	return other
}

// requestBytes estimates the /process body for images of the given sizes.
func requestBytes(sides []pipeline.Side, size func(int) int) int {
	n := requestOverhead
	for i, side := range sides {
		n += base64.StdEncoding.EncodedLen(size(i)) + len(side) + 6
	}
	return n
}
