package backup

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Compression codecs of stored objects (Object.Comp, Manifest.Compression, the
// backup.compression setting).
//
// zstd (the default) makes the smallest objects and is readable by hand with `zstd -d`
// (README, "Restoring by hand"). s2 (klauspost/compress, a Snappy extension) compresses
// the COPY data with about a third of zstd level 1's CPU and decompresses it faster, for
// objects about 30 % larger (measured on the bench shapes, BENCHMARKS.md): on a machine
// where the server's COPY and the compressor share the cores, that CPU is the backup's
// wall time.
const (
	CompressionS2   = "s2"
	CompressionZstd = "zstd"
)

// Compressions are the codecs a backup can write (backup.compression).
var Compressions = []string{CompressionZstd, CompressionS2}

// DefaultCompression is the codec of snapshots when none is configured.
const DefaultCompression = CompressionZstd

// compressor is a pooled streaming encoder (zstd.Encoder, s2.Writer).
type compressor interface {
	io.WriteCloser
	Reset(w io.Writer)
}

// encoders pools the encoders of one codec and level (a zstd encoder holds a few MiB of
// state, an s2 writer its block buffers).
type encoders struct {
	comp  string // CompressionS2 or CompressionZstd
	level zstd.EncoderLevel
	pool  sync.Pool
}

// newEncoders returns the pool of comp ("" is zstd); level is zstd's (1 fastest) and
// is not used by s2.
func newEncoders(comp string, level int) (*encoders, error) {
	switch comp {
	case "", CompressionZstd:
		return &encoders{comp: CompressionZstd, level: zstd.EncoderLevelFromZstd(max(level, 1))}, nil
	case CompressionS2:
		return &encoders{comp: CompressionS2}, nil
	}
	return nil, fmt.Errorf("compression %q: want one of %v", comp, Compressions)
}

// zstdEncoders is the pool of zstd level 1 (WAL segments and base backups stay zstd).
func zstdEncoders() *encoders {
	e, _ := newEncoders(CompressionZstd, 1)
	return e
}

// ext is the key suffix of objects of this codec.
func (e *encoders) ext() string { return compressionExt(e.comp) }

func compressionExt(comp string) string {
	if comp == CompressionS2 {
		return ".s2"
	}
	return ".zst"
}

// objectComp is what Object.Comp records: "" for zstd (what objects without the field
// always were), else the codec.
func (e *encoders) objectComp() string {
	if e.comp == CompressionZstd {
		return ""
	}
	return e.comp
}

func (e *encoders) get(w io.Writer) (compressor, error) {
	if enc, ok := e.pool.Get().(compressor); ok {
		enc.Reset(w)
		return enc, nil
	}
	if e.comp == CompressionS2 {
		// One goroutine: the backup already runs a compressor per COPY session, and the
		// seal stage overlaps with it (object.go).
		return s2.NewWriter(w, s2.WriterConcurrency(1)), nil
	}
	// Measured on COPY text of the bookmark links: WithLowerEncoderMem costs ~35% more CPU
	// at SpeedFastest, which on a 2-core machine competes with the server's COPY.
	return zstd.NewWriter(w, zstd.WithEncoderLevel(e.level), zstd.WithEncoderConcurrency(1))
}

func (e *encoders) put(enc compressor) { enc.Reset(nil); e.pool.Put(enc) }

// decompressor reads an object's content; Close frees it.
type decompressor interface {
	io.Reader
	Close()
}

type s2Decoder struct{ *s2.Reader }

func (s2Decoder) Close() {}

// newDecompressor opens the content of an object compressed with comp.
func newDecompressor(comp string, r io.Reader) (decompressor, error) {
	switch comp {
	case "", CompressionZstd:
		dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, err
		}
		return dec, nil
	case CompressionS2:
		return s2Decoder{s2.NewReader(r)}, nil
	}
	return nil, fmt.Errorf("compressed with %q, which this linkbackup does not read: upgrade linkbackup", comp)
}
