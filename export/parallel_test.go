package export

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/idbatch/idbatch/export/exporttest"
)

func TestChunkBuf(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	want := make([]byte, 3*chunkSize+1234)
	for i := range want {
		want[i] = byte(r.Uint32())
	}
	pool := &chunkPool{}
	b := &chunkBuf{pool: pool}
	for p := want; len(p) > 0; { // odd-sized writes across chunk boundaries
		k := min(len(p), 1+r.IntN(70_000))
		if n, err := b.Write(p[:k]); n != k || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		p = p[k:]
	}
	if b.Len() != int64(len(want)) {
		t.Fatalf("Len %d, want %d", b.Len(), len(want))
	}
	for _, off := range []int64{0, 1, chunkSize - 1, chunkSize, 2*chunkSize + 7, int64(len(want)) - 10} {
		got := make([]byte, 5000)
		n, err := b.ReadAt(got, off)
		wantN := min(5000, int64(len(want))-off)
		if int64(n) != wantN || !bytes.Equal(got[:n], want[off:off+int64(n)]) {
			t.Errorf("ReadAt(%d): %d bytes (want %d), equal %v", off, n, wantN, bytes.Equal(got[:n], want[off:off+int64(n)]))
		}
		if (wantN < 5000) != (err == io.EOF) {
			t.Errorf("ReadAt(%d): err %v", off, err)
		}
	}
	// Seek and Read, then overwrite in the middle.
	if _, err := b.Seek(chunkSize-3, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("xyzxyz")); err != nil {
		t.Fatal(err)
	}
	copy(want[chunkSize-3:], "xyzxyz")
	if pos, _ := b.Seek(0, io.SeekCurrent); pos != chunkSize+3 {
		t.Errorf("position %d after the overwrite, want %d", pos, chunkSize+3)
	}
	if end, _ := b.Seek(0, io.SeekEnd); end != int64(len(want)) {
		t.Errorf("Seek(0, End) = %d", end)
	}
	if _, err := b.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek to -1: no error")
	}
	b.Seek(0, io.SeekStart)
	all, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(all, want) {
		t.Fatalf("ReadAll: %d bytes, equal %v, %v", len(all), bytes.Equal(all, want), err)
	}
	// A file buffer does not drain: WriteTo leaves it readable.
	b.Seek(0, io.SeekStart)
	var out bytes.Buffer
	if _, err := b.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("WriteTo: %d bytes, %v", out.Len(), err)
	}
	if _, err := b.ReadAt(make([]byte, 10), 0); err != nil {
		t.Errorf("ReadAt after WriteTo: %v", err)
	}
	b.Reset()
	if len(pool.free) != 4 || b.Len() != 0 {
		t.Errorf("after Reset: %d chunks free, length %d; want 4, 0", len(pool.free), b.Len())
	}
}

// A page buffer gives its chunks back as WriteTo copies them out, and then
// refuses to be read again instead of serving stale bytes.
func TestChunkBufPageDrains(t *testing.T) {
	pool := &chunkPool{}
	pb := pagePool{pool}.GetBuffer()
	data := bytes.Repeat([]byte("page"), chunkSize) // 4 chunks
	if _, err := pb.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := pb.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if n, err := io.Copy(&out, pb); err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("io.Copy: %d bytes, %v", n, err)
	}
	if len(pool.free) != 4 {
		t.Errorf("%d chunks back in the pool after the copy, want 4", len(pool.free))
	}
	pb.Seek(0, io.SeekStart)
	if _, err := pb.Read(make([]byte, 8)); !errors.Is(err, errDrained) {
		t.Errorf("Read after drain: %v, want errDrained", err)
	}
	if _, err := io.Copy(io.Discard, pb); !errors.Is(err, errDrained) {
		t.Errorf("second copy: %v, want errDrained", err)
	}
	pagePool{pool}.PutBuffer(pb)
	if _, err := pb.Write([]byte("again")); err != nil {
		t.Errorf("Write after PutBuffer: %v", err)
	}
}

// readRows reads every row of a Parquet file, sorted by client_id.
func readRows(t *testing.T, path string) []Row {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[Row](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.ClientID, b.ClientID) })
	return rows
}

// Several encoders write the same rows as one, every row group is copied
// into the file verbatim (none re-encoded), and DuckDB reads the file.
func TestParallelWriterSameRowsAsOne(t *testing.T) {
	t.Parallel()
	const n = 5000
	before := reencodedPages.Load()
	export := func(workers int) (string, []int64) {
		dest, root := localDestination(t)
		e := newTestExporter(dest)
		e.Workers, e.RowGroupSize, e.Compression = workers, 700, "zstd"
		rep, err := e.Export(t.Context(), genSource{n: n})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rows != n || len(rep.Files) != 1 {
			t.Fatalf("%d workers: %d rows in %v", workers, rep.Rows, rep.Files)
		}
		file := filepath.Join(root, filepath.FromSlash(wantPart))
		return file, rowGroups(t, file)
	}
	oneFile, oneGroups := export(1)
	manyFile, manyGroups := export(3)
	if after := reencodedPages.Load(); after != before {
		t.Errorf("%d pages re-encoded by the output writer, want 0 (every row group copied)", after-before)
	}
	if len(oneGroups) != (n+699)/700 {
		t.Errorf("one encoder: row groups %v", oneGroups)
	}
	for _, g := range manyGroups {
		if g > 700 {
			t.Errorf("three encoders: row groups %v, one over 700 rows", manyGroups)
		}
	}
	one, many := readRows(t, oneFile), readRows(t, manyFile)
	if len(one) != n || len(many) != n {
		t.Fatalf("%d and %d rows, want %d", len(one), len(many), n)
	}
	for i := range one {
		if !reflect.DeepEqual(one[i], many[i]) {
			t.Fatalf("row %d differs:\none encoder:    %+v\nthree encoders: %+v", i, one[i], many[i])
		}
		if i > 0 && one[i].ClientID == one[i-1].ClientID {
			t.Fatalf("client %s twice", one[i].ClientID)
		}
	}
	p := exporttest.Quote(manyFile)
	rows := exporttest.Query(t, "SELECT count(*) AS n, count(DISTINCT client_id) AS clients, "+
		"count(*) FILTER (WHERE outcome = 'REJECTED') AS rejected FROM read_parquet("+p+")")
	var rejected float64
	for i := range one {
		if one[i].Outcome == "REJECTED" {
			rejected++
		}
	}
	want := map[string]any{"n": float64(n), "clients": float64(n), "rejected": rejected}
	if !reflect.DeepEqual(rows[0], want) {
		t.Errorf("DuckDB: %v, want %v", rows[0], want)
	}
}

// A destination that fails while encoders are busy ends the export with its
// error, leaves no file, and no encoder behind.
func TestParallelWriterDestinationFails(t *testing.T) {
	t.Parallel()
	local, root := localDestination(t)
	dest := &faultyDest{Destination: local, failWrite: true}
	e := newTestExporter(dest)
	e.Workers, e.RowGroupSize = 2, 300
	_, err := e.Export(t.Context(), genSource{n: 4000})
	if !errors.Is(err, errDisk) {
		t.Fatalf("err = %v, want %v", err, errDisk)
	}
	for _, f := range files(t, root) {
		if strings.HasSuffix(f, ".parquet") {
			t.Errorf("file %s left behind", f)
		}
	}
}
