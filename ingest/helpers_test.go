package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// fakeS3 is an in-process S3 server (gofakes3, in-memory backend) behind
// httptest, reached path-style through a client built by NewS3Client.
type fakeS3 struct {
	backend *s3mem.Backend
	server  *httptest.Server
	client  *s3.Client
	// wrap, when set, sees every request first and may answer it itself
	// (returning true).
	wrap func(w http.ResponseWriter, r *http.Request) bool
}

func newFakeS3(t *testing.T, buckets ...string) *fakeS3 {
	t.Helper()
	f := &fakeS3{backend: s3mem.New()}
	h := gofakes3.New(f.backend).Server()
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.wrap != nil && f.wrap(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.server.Close)
	c, err := NewS3Client(context.Background(), S3Config{
		Endpoint: f.server.URL, Region: "eu-west-1", PathStyle: true,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	// One attempt: tests of failures must not wait for retry backoff.
	f.client = s3.New(c.Options(), func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	for _, b := range buckets {
		if err := f.backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fakeS3) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if _, err := f.backend.PutObject(bucket, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

// ---- image corpus, generated ----

// gradient is an opaque image with structure (so JPEG sizes are realistic).
func gradient(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := m.PixOffset(x, y)
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(x*255/w), uint8(y*255/h), uint8((x+y)%256), 255
		}
	}
	return m
}

// paletted is a GIF-ready image (encoding it needs no quantization).
func paletted(w, h int) *image.Paletted {
	m := image.NewPaletted(image.Rect(0, 0, w, h), palette.WebSafe)
	for i := range m.Pix {
		m.Pix[i] = uint8(i % len(palette.WebSafe))
	}
	return m
}

// noise is an opaque image that JPEG compresses badly.
func noise(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		if i%4 == 3 {
			m.Pix[i] = 255
		} else {
			m.Pix[i] = uint8(r.Uint32())
		}
	}
	return m
}

func encJPEG(t testing.TB, m image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encPNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encGIF(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encBMP(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := bmp.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encTIFF(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tiff.Encode(&b, m, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withEXIFOrientation inserts an APP1 Exif segment holding only the
// Orientation tag right after the SOI of a JPEG.
func withEXIFOrientation(jpg []byte, orientation uint16) []byte {
	var tiffHdr bytes.Buffer
	tiffHdr.WriteString("MM\x00\x2a")                        // big-endian TIFF header
	binary.Write(&tiffHdr, binary.BigEndian, uint32(8))      // offset of IFD0
	binary.Write(&tiffHdr, binary.BigEndian, uint16(1))      // one entry
	binary.Write(&tiffHdr, binary.BigEndian, uint16(0x0112)) // Orientation
	binary.Write(&tiffHdr, binary.BigEndian, uint16(3))      // SHORT
	binary.Write(&tiffHdr, binary.BigEndian, uint32(1))      // count
	binary.Write(&tiffHdr, binary.BigEndian, orientation)    // value, left-justified
	binary.Write(&tiffHdr, binary.BigEndian, uint16(0))      // padding
	binary.Write(&tiffHdr, binary.BigEndian, uint32(0))      // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiffHdr.Bytes()...)

	var out bytes.Buffer
	out.Write(jpg[:2]) // SOI
	out.Write([]byte{0xff, 0xe1})
	binary.Write(&out, binary.BigEndian, uint16(len(payload)+2))
	out.Write(payload)
	out.Write(jpg[2:])
	return out.Bytes()
}

// jpegMarkers lists the markers of a JPEG up to its first SOS.
func jpegMarkers(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		t.Fatalf("not a JPEG")
	}
	var ms []byte
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			t.Fatalf("bad marker at %d", i)
		}
		m := b[i+1]
		ms = append(ms, m)
		if m == 0xda { // SOS
			break
		}
		i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
	}
	return ms
}

// webpLossless builds a valid lossless WebP (VP8L) of w×h pixels of one
// colour by hand: no transforms, no colour cache, one prefix-code group of
// five "simple" codes with a single symbol each, so every pixel takes zero
// bits (see the WebP lossless bitstream specification).
func webpLossless(w, h int, c color.NRGBA) []byte {
	var bw bitWriter
	bw.write(0x2f, 8)                                    // VP8L signature
	bw.write(uint32(w-1), 14)                            // image width - 1
	bw.write(uint32(h-1), 14)                            // image height - 1
	bw.write(1, 1)                                       // alpha used
	bw.write(0, 3)                                       // version 0
	bw.write(0, 1)                                       // no transform
	bw.write(0, 1)                                       // no colour cache
	bw.write(0, 1)                                       // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} { // green, red, blue, alpha, distance
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // 8-bit symbol
		bw.write(uint32(sym), 8)
	}
	data := bw.bytes()

	var out bytes.Buffer
	chunk := len(data)
	pad := chunk % 2
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(4+8+chunk+pad))
	out.WriteString("WEBPVP8L")
	binary.Write(&out, binary.LittleEndian, uint32(chunk))
	out.Write(data)
	if pad == 1 {
		out.WriteByte(0)
	}
	return out.Bytes()
}

type bitWriter struct {
	buf   []byte
	acc   uint64
	nbits uint
}

// write appends the n low bits of v, least significant bit first.
func (b *bitWriter) write(v uint32, n uint) {
	b.acc |= uint64(v&(1<<n-1)) << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc >>= 8
		b.nbits -= 8
	}
}

func (b *bitWriter) bytes() []byte {
	if b.nbits > 0 {
		return append(b.buf, byte(b.acc))
	}
	return b.buf
}

// pngBomb is a few dozen bytes of valid PNG header claiming w×h RGBA
// pixels, followed by a token IDAT: decoding it would allocate w*h*4 bytes.
func pngBomb(w, h uint32) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01})
	chunk("IEND", nil)
	return out.Bytes()
}
