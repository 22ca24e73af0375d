package export

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestZstdCodecRoundTrip: what the shared encoder writes, parquet-go's zstd
// decoder reads back, for pages smaller and larger than the window, from
// concurrent writers.
func TestZstdCodecRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var inputs [][]byte
	for _, n := range []int{0, 1, 100, 256 << 10, 3 * zstdWindow} {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefgh0123"[r.IntN(12)]
		}
		inputs = append(inputs, b)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, in := range inputs {
				enc, err := sharedZstd.Encode(nil, in)
				if err != nil {
					t.Error(err)
					return
				}
				if len(in) > 1000 && len(enc) >= len(in) {
					t.Errorf("%d bytes compressed to %d", len(in), len(enc))
				}
				dec, err := parquet.Zstd.Decode(nil, enc)
				if err != nil || !bytes.Equal(dec, in) {
					t.Errorf("round trip of %d bytes: %d bytes back, %v", len(in), len(dec), err)
				}
			}
		})
	}
	wg.Wait()
	if sharedZstd.CompressionCodec() != parquet.Zstd.CompressionCodec() || sharedZstd.String() != "ZSTD" {
		t.Errorf("codec %s (%v), want ZSTD", sharedZstd, sharedZstd.CompressionCodec())
	}
}
