package export

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// maxWriterWorkers bounds the encoders of one file: each holds a row group
// (its compressed pages, then the same bytes as a one-group file), about
// 26 MB for 128Ki rows of typical records.
const maxWriterWorkers = 4

// defaultWorkers is the number of encoders of a file: one per CPU the Go
// runtime uses, at most maxWriterWorkers.
func defaultWorkers() int { return min(max(runtime.GOMAXPROCS(0), 1), maxWriterWorkers) }

// parallelWriter writes one Parquet file with several encoders at once.
//
// Encoding and zstd compression are most of an export's CPU, and a
// parquet.GenericWriter does both on the goroutine that calls Write. Here
// each worker owns a GenericWriter that writes whole row groups into memory
// as one-group Parquet files; a finished group is then appended to the real
// file with GenericWriter.WriteRowGroup, which parquet-go copies verbatim
// (compressed pages, dictionary, statistics and page index spliced in
// without decoding: its "copy" path, taken because both writers have the
// same schema, codec, encodings and page version). The file is therefore
// byte for byte what one writer would produce for the same row groups.
//
// Workers take batches from one channel as they become free, so the rows of
// a file are not in the order they were written in: row groups interleave
// batches of writeBatch rows. Nothing depends on row order (each record is
// in exactly one file; readers sort if they need to).
type parallelWriter struct {
	batches    chan []Row
	groupRows  int
	groupBytes int64
	partOpts   []parquet.WriterOption

	mu  sync.Mutex // guards out: row groups are appended one at a time
	out *parquet.GenericWriter[Row]

	chunks chunkPool // the workers' one-group files share their memory

	wg      sync.WaitGroup
	closed  bool // batches is closed (only the caller's goroutine touches it)
	errOnce sync.Once
	err     error
	failed  chan struct{} // closed when err is set
}

// newParallelWriter starts workers encoders writing into out, each cutting
// a row group at groupRows rows or when it buffers more than groupBytes.
func newParallelWriter(out io.Writer, workers, groupRows int, groupBytes int64, opts []parquet.WriterOption) *parallelWriter {
	p := &parallelWriter{
		batches:    make(chan []Row, workers),
		groupRows:  groupRows,
		groupBytes: groupBytes,
		failed:     make(chan struct{}),
	}
	p.partOpts = append(slices.Clip(opts), parquet.ColumnPageBuffers(pagePool{&p.chunks}))
	var codec compress.Codec = &parquet.Uncompressed
	if cfg, err := parquet.NewWriterConfig(opts...); err == nil && cfg.Compression != nil {
		codec = cfg.Compression
	}
	p.out = parquet.NewGenericWriter[Row](out, append(slices.Clip(opts), parquet.Compression(copyCheckCodec{codec}))...)
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// Write hands rows to the workers, writeBatch at a time; rows must not be
// changed afterwards. It returns the first error of any worker.
func (p *parallelWriter) Write(rows []Row) error {
	for len(rows) > 0 {
		k := min(len(rows), writeBatch)
		select {
		case p.batches <- rows[:k]:
		case <-p.failed:
			return p.err
		}
		rows = rows[k:]
	}
	return nil
}

// Close waits until every row handed to Write is in the file, then writes
// the footer. The file is complete only if Close returns nil.
func (p *parallelWriter) Close() error {
	p.stop()
	if p.err != nil {
		return p.err
	}
	return p.out.Close()
}

// Abort stops the workers, discarding what they hold, and waits for them.
// The file is left without a footer (the caller aborts it).
func (p *parallelWriter) Abort() {
	p.fail(errAborted)
	p.stop()
}

var errAborted = errors.New("export: writer aborted")

// reencodedPages counts the pages that the output writer of a
// parallelWriter compressed itself. It stays zero as long as parquet-go
// copies every row group verbatim; should it decline (a source without a
// page index, an encoding that differs from the configured one), it decodes
// and re-encodes the group instead: correct, but on one goroutine while the
// others wait. Tests assert it stays zero.
var reencodedPages atomic.Int64

// copyCheckCodec is the output writer's codec: the workers' codec, counting
// the pages it compresses in reencodedPages.
type copyCheckCodec struct{ compress.Codec }

func (c copyCheckCodec) Encode(dst, src []byte) ([]byte, error) {
	reencodedPages.Add(1)
	return c.Codec.Encode(dst, src)
}

// stop closes the batch channel and waits for the workers to finish.
func (p *parallelWriter) stop() {
	if !p.closed {
		p.closed = true
		close(p.batches)
	}
	p.wg.Wait()
}

func (p *parallelWriter) fail(err error) {
	p.errOnce.Do(func() {
		p.err = err
		close(p.failed)
	})
}

func (p *parallelWriter) failing() bool {
	select {
	case <-p.failed:
		return true
	default:
		return false
	}
}

// work encodes batches into row groups until the channel closes; after a
// failure it only drains the channel.
func (p *parallelWriter) work() {
	defer p.wg.Done()
	var (
		buf  = &chunkBuf{pool: &p.chunks}
		w    *parquet.GenericWriter[Row]
		rows int
	)
	for batch := range p.batches {
		for len(batch) > 0 && !p.failing() {
			if w == nil {
				w = parquet.NewGenericWriter[Row](buf, p.partOpts...)
			}
			k := min(len(batch), p.groupRows-rows)
			if _, err := w.Write(batch[:k]); err != nil {
				p.fail(err)
				break
			}
			rows += k
			batch = batch[k:]
			if rows >= p.groupRows || w.Size()-buf.Len() > p.groupBytes {
				if err := p.appendGroup(w, buf); err != nil {
					p.fail(err)
					break
				}
				rows = 0
			}
		}
	}
	if rows > 0 && !p.failing() {
		if err := p.appendGroup(w, buf); err != nil {
			p.fail(err)
		}
	}
	buf.Reset()
}

// appendGroup closes w's one-group file in buf, appends its row group to
// the output, and resets w and buf for the next group.
func (p *parallelWriter) appendGroup(w *parquet.GenericWriter[Row], buf *chunkBuf) error {
	if err := w.Close(); err != nil {
		return err
	}
	f, err := parquet.OpenFile(buf, buf.Len())
	if err != nil {
		return fmt.Errorf("reopen encoded row group: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing() { // another worker failed: the file is being aborted
		return nil
	}
	for _, rg := range f.RowGroups() {
		if _, err := p.out.WriteRowGroup(rg); err != nil {
			return err
		}
	}
	buf.Reset()
	w.Reset(buf)
	return nil
}

// chunkSize is the allocation unit of a chunkBuf (parquet-go's page
// buffers use the same).
const chunkSize = 32 << 10

// chunkPool is the memory of a parallelWriter's encoders: their page
// buffers (through pagePool) and their one-group files. Released chunks go
// back on a free list for the next buffer, so that memory moves from the
// pages of a finished group to its file and back, and is reused, instead of
// each kind of buffer holding its own and the garbage collector reclaiming
// it late (a bytes.Buffer would also keep up to twice its size while it
// grows).
type chunkPool struct {
	mu   sync.Mutex
	free [][]byte
}

func (c *chunkPool) get() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b
	}
	return make([]byte, chunkSize)
}

func (c *chunkPool) put(chunks [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.free = append(c.free, chunks...)
}

// pagePool is a parquet.BufferPool of chunkBufs (parquet.ColumnPageBuffers).
type pagePool struct{ chunks *chunkPool }

func (p pagePool) GetBuffer() io.ReadWriteSeeker { return &chunkBuf{pool: p.chunks, drain: true} }

func (p pagePool) PutBuffer(b io.ReadWriteSeeker) {
	if c, ok := b.(*chunkBuf); ok {
		c.Reset()
	}
}

// chunkBuf is an in-memory file in chunks of chunkSize bytes taken from a
// chunkPool: an io.ReadWriteSeeker (parquet-go's page buffers) and an
// io.ReaderAt (a one-group file reopened with parquet.OpenFile).
type chunkBuf struct {
	pool   *chunkPool
	chunks [][]byte
	n      int64 // length
	pos    int64 // offset of Read, Write and Seek

	// A page buffer drains: parquet-go copies a column's pages into the
	// file once, with io.Copy (WriteTo), when the row group is complete,
	// and only returns the buffer to the pool after the last column. So
	// that the pages of a group and the file they are copied into are not
	// both held in full, WriteTo gives each chunk back to the pool as soon
	// as it is copied. A drained buffer can only be reset: reading it again
	// is an error, never stale bytes.
	drain   bool
	drained bool
}

var errDrained = errors.New("export: page buffer read again after it was copied out")

func (b *chunkBuf) Len() int64 { return b.n }

func (b *chunkBuf) Write(p []byte) (int, error) {
	if b.drained {
		return 0, errDrained
	}
	written := len(p)
	for len(p) > 0 {
		i, off := int(b.pos/chunkSize), int(b.pos%chunkSize)
		for i >= len(b.chunks) {
			b.chunks = append(b.chunks, b.pool.get())
		}
		k := copy(b.chunks[i][off:], p)
		p = p[k:]
		b.pos += int64(k)
		b.n = max(b.n, b.pos)
	}
	return written, nil
}

func (b *chunkBuf) Read(p []byte) (int, error) {
	n, err := b.ReadAt(p, b.pos)
	b.pos += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

func (b *chunkBuf) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("export: chunkBuf: negative offset")
	}
	if b.drained {
		return 0, errDrained
	}
	read := 0
	for len(p) > 0 && off < b.n {
		i, o := int(off/chunkSize), int(off%chunkSize)
		end := int(min(chunkSize, b.n-int64(i)*chunkSize))
		k := copy(p, b.chunks[i][o:end])
		p = p[k:]
		off += int64(k)
		read += k
	}
	if len(p) > 0 {
		return read, io.EOF
	}
	return read, nil
}

// WriteTo writes what is left to read from the current offset (io.Copy
// uses it: no intermediate buffer). A page buffer copied out from its start
// drains (see chunkBuf.drain).
func (b *chunkBuf) WriteTo(w io.Writer) (int64, error) {
	if b.drained {
		return 0, errDrained
	}
	drain := b.drain && b.pos == 0
	if drain {
		b.drained = true // even if w fails: the bytes are gone either way
	}
	var total int64
	for b.pos < b.n {
		i, o := int(b.pos/chunkSize), int(b.pos%chunkSize)
		end := int(min(chunkSize, b.n-int64(i)*chunkSize))
		k, err := w.Write(b.chunks[i][o:end])
		b.pos += int64(k)
		total += int64(k)
		if drain {
			b.pool.put(b.chunks[i : i+1])
			b.chunks[i] = nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (b *chunkBuf) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.n
	case io.SeekStart:
	default:
		return b.pos, errors.New("export: chunkBuf: bad whence")
	}
	if offset < 0 {
		return b.pos, errors.New("export: chunkBuf: negative offset")
	}
	b.pos = offset
	return offset, nil
}

// Reset empties b, giving its chunks back to the pool.
func (b *chunkBuf) Reset() {
	for _, c := range b.chunks {
		if c != nil {
			b.pool.put([][]byte{c})
		}
	}
	clear(b.chunks)
	b.chunks = b.chunks[:0]
	b.n, b.pos, b.drained = 0, 0, false
}
