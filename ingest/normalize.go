package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders
	"image/jpeg"
	"image/png"
	"math"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/idbatch/idbatch/pipeline"
)

// NormalizeOptions bounds and shapes the images sent to iDenfy. A zero
// field takes its default.
type NormalizeOptions struct {
	MaxSide       int // longer side of the output, pixels (2560)
	JPEGQuality   int // first JPEG quality tried, 1..100 (90)
	MaxImageBytes int // output JPEG bytes, before base64 (4_500_000)
	MinSide       int // shorter side of the input after orientation, pixels (300)
	MaxPixels     int // width×height of the input; more is too_large_pixels (50_000_000)
}

// Defaults of NormalizeOptions.
const (
	DefaultMaxSide       = 2560
	DefaultJPEGQuality   = 90
	DefaultMaxImageBytes = 4_500_000
	DefaultMinSide       = 300
	DefaultMaxPixels     = 50_000_000
)

// WithDefaults returns o with every zero field set to its default.
func (o NormalizeOptions) WithDefaults() NormalizeOptions {
	if o.MaxSide <= 0 {
		o.MaxSide = DefaultMaxSide
	}
	if o.JPEGQuality <= 0 || o.JPEGQuality > 100 {
		o.JPEGQuality = DefaultJPEGQuality
	}
	if o.MaxImageBytes <= 0 {
		o.MaxImageBytes = DefaultMaxImageBytes
	}
	if o.MinSide <= 0 {
		o.MinSide = DefaultMinSide
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	return o
}

// fallbackQualities are tried, below JPEGQuality, when an image is over
// MaxImageBytes; then the image is scaled down by downscaleStep at the
// lowest of them until it fits or its shorter side would drop below MinSide.
var fallbackQualities = []int{85, 75, 65, 55}

const downscaleStep = 0.8

// Normalize turns the bytes of an image into the JPEG sent to iDenfy:
// EXIF orientation applied, longer side at most MaxSide, transparency
// flattened onto white, no metadata, at most MaxImageBytes. An upright JPEG
// already within the limits keeps its compressed data (only metadata
// segments are removed); everything else is resampled and re-encoded (see
// the package documentation). It never writes to disk.
//
// It rejects (with a *pipeline.RejectError):
//
//   - empty_object: no bytes;
//   - not_an_image: not JPEG, PNG, GIF, WebP, BMP or TIFF by its magic bytes;
//   - unsupported_format: a known image or document format that cannot be
//     decoded (HEIC/HEIF, AVIF, JPEG 2000, JPEG XL, PDF, PSD, ICO, SVG), or a
//     feature of a supported format the decoder lacks;
//   - too_large_pixels: more than MaxPixels, decided from the header before
//     any pixel is decoded (decompression bombs cost nothing);
//   - too_small: shorter side below MinSide;
//   - corrupt_image: a header or pixel data that does not decode, or a
//     JPEG of more than 100 scans (a CPU bomb: every scan walks the image);
//   - cannot_fit_size_limit: no quality or scale down to MinSide fits
//     MaxImageBytes.
func Normalize(data []byte, opt NormalizeOptions) ([]byte, error) {
	opt = opt.WithDefaults()
	if len(data) == 0 {
		return nil, pipeline.Reject(pipeline.RejectEmptyObject, "object is empty")
	}
	format, err := sniff(data)
	if err != nil {
		return nil, err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, decodeReject(format, "header", err)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return nil, pipeline.Reject(pipeline.RejectCorruptImage, fmt.Sprintf("%s header: %dx%d pixels", format, w, h))
	}
	if int64(w)*int64(h) > int64(opt.MaxPixels) {
		return nil, pipeline.Reject(pipeline.RejectTooLargePixels,
			fmt.Sprintf("%s of %dx%d pixels, more than %d", format, w, h, opt.MaxPixels))
	}
	if min(w, h) < opt.MinSide {
		return nil, pipeline.Reject(pipeline.RejectTooSmall,
			fmt.Sprintf("%s of %dx%d pixels, shorter side below %d", format, w, h, opt.MinSide))
	}

	orientation := 1
	if format == "jpeg" {
		if n := jpegScans(data, maxJPEGScans); n > maxJPEGScans {
			return nil, pipeline.Reject(pipeline.RejectCorruptImage,
				fmt.Sprintf("jpeg with more than %d scans", maxJPEGScans))
		}
		orientation = exifOrientation(data)
	}
	// A JPEG that is already within every limit and upright goes through
	// as it is, without its metadata: no generation loss, no encoding.
	if format == "jpeg" && orientation == 1 && max(w, h) <= opt.MaxSide && len(data) <= opt.MaxImageBytes &&
		cfg.ColorModel != color.CMYKModel {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			return nil, decodeReject(format, "image data", err)
		}
		if out, err := stripJPEGMetadata(data); err == nil && len(out) <= opt.MaxImageBytes {
			return out, nil
		}
		// A marker structure the stripper does not follow: re-encode.
	}

	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, decodeReject(format, "image data", err)
	}
	// Resize in the stored orientation, then turn the (smaller) result.
	tw, th := fitWithin(w, h, opt.MaxSide)
	p := toPlanes(img).resize(tw, th, resampleKernel).orient(orientation)
	return encodeWithin(p, opt)
}

// fitWithin returns the size of a w×h image whose longer side is at most
// maxSide, keeping the aspect ratio.
func fitWithin(w, h, maxSide int) (int, int) {
	if max(w, h) <= maxSide {
		return w, h
	}
	if w >= h {
		return maxSide, max(1, int(math.Round(float64(h)*float64(maxSide)/float64(w))))
	}
	return max(1, int(math.Round(float64(w)*float64(maxSide)/float64(h)))), maxSide
}

// encodeWithin encodes p as JPEG within opt.MaxImageBytes.
func encodeWithin(p planes, opt NormalizeOptions) ([]byte, error) {
	var buf bytes.Buffer
	encode := func(p planes, q int) ([]byte, error) {
		buf.Reset()
		if err := jpeg.Encode(&buf, p.image(), &jpeg.Options{Quality: q}); err != nil {
			return nil, fmt.Errorf("ingest: encode jpeg: %w", err)
		}
		if buf.Len() > opt.MaxImageBytes {
			return nil, nil
		}
		return bytes.Clone(buf.Bytes()), nil
	}
	q := opt.JPEGQuality
	out, err := encode(p, q)
	if out != nil || err != nil {
		return out, err
	}
	for _, fq := range fallbackQualities {
		if fq >= opt.JPEGQuality {
			continue
		}
		q = fq
		if out, err := encode(p, q); out != nil || err != nil {
			return out, err
		}
	}
	for scale := downscaleStep; ; scale *= downscaleStep {
		w := int(math.Round(float64(p.y.w) * scale))
		h := int(math.Round(float64(p.y.h) * scale))
		if min(w, h) < opt.MinSide {
			break
		}
		if out, err := encode(p.resize(w, h, resampleKernel), q); out != nil || err != nil {
			return out, err
		}
	}
	return nil, pipeline.Reject(pipeline.RejectCannotFitSizeLimit,
		fmt.Sprintf("no JPEG quality or scale (down to a shorter side of %d) fits %d bytes", opt.MinSide, opt.MaxImageBytes))
}

// decodeReject classifies a decoder error.
func decodeReject(format, what string, err error) error {
	var (
		jpegU jpeg.UnsupportedError
		pngU  png.UnsupportedError
		tiffU tiff.UnsupportedError
	)
	if errors.As(err, &jpegU) || errors.As(err, &pngU) || errors.As(err, &tiffU) || errors.Is(err, bmp.ErrUnsupported) {
		return pipeline.Reject(pipeline.RejectUnsupportedFormat, fmt.Sprintf("%s: %v", format, err))
	}
	return pipeline.Reject(pipeline.RejectCorruptImage, fmt.Sprintf("%s %s: %v", format, what, err))
}

// sniff names the format of data by its magic bytes, or rejects it.
func sniff(data []byte) (string, error) {
	has := func(off int, magic string) bool {
		return len(data) >= off+len(magic) && string(data[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xff\xd8\xff"):
		return "jpeg", nil
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "png", nil
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "gif", nil
	case has(0, "RIFF") && has(8, "WEBP"):
		return "webp", nil
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return "tiff", nil
	case has(0, "BM") && len(data) >= 18 && validBMPHeaderSize(binary.LittleEndian.Uint32(data[14:18])):
		return "bmp", nil
	}
	if name := unsupportedFormat(data, has); name != "" {
		return "", pipeline.Reject(pipeline.RejectUnsupportedFormat, name+" cannot be decoded")
	}
	return "", pipeline.Reject(pipeline.RejectNotAnImage, "not JPEG, PNG, GIF, WebP, BMP or TIFF")
}

func validBMPHeaderSize(n uint32) bool {
	switch n {
	case 12, 16, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

// unsupportedFormat names a known image or document format idbatch cannot
// decode, or returns "".
func unsupportedFormat(data []byte, has func(int, string) bool) string {
	if has(4, "ftyp") && len(data) >= 12 {
		// ISO base media file: HEIF/HEIC/AVIF by brand (major or compatible).
		end := min(len(data), 64)
		if size := int(binary.BigEndian.Uint32(data[0:4])); size >= 16 {
			end = min(end, size)
		}
		for off := 8; off+4 <= end; off += 4 {
			if off == 12 {
				continue // minor version
			}
			switch string(data[off : off+4]) {
			case "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1":
				return "HEIF/HEIC"
			case "avif", "avis":
				return "AVIF"
			}
		}
		return ""
	}
	switch {
	case has(0, "\x00\x00\x00\x0cjP  \r\n\x87\n"), has(0, "\xff\x4f\xff\x51"):
		return "JPEG 2000"
	case has(0, "\x00\x00\x00\x0cJXL \r\n\x87\n"), has(0, "\xff\x0a"):
		return "JPEG XL"
	case has(0, "%PDF-"):
		return "PDF"
	case has(0, "8BPS"):
		return "PSD"
	case has(0, "\x00\x00\x01\x00") && len(data) >= 6 && data[4]|data[5] != 0:
		return "ICO"
	case has(0, "II\xbc"):
		return "JPEG XR"
	}
	head := bytes.ToLower(bytes.TrimSpace(data[:min(len(data), 512)]))
	if bytes.HasPrefix(head, []byte("<svg")) || bytes.HasPrefix(head, []byte("<?xml")) && bytes.Contains(head, []byte("<svg")) {
		return "SVG"
	}
	return ""
}
