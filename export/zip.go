package export

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zip"
)

// DefaultZipLevel is the deflate level WriteZip uses when ZipOptions.Level is 0: level 1
// is several times faster than 6 and bookmark files compress well at any level (see
// BENCHMARKS.md).
const DefaultZipLevel = 1

// ZipOptions tunes WriteZip.
type ZipOptions struct {
	// Date names the files (its UTC day: bookmarks-YYYY-MM-DD.html/.xbel) and is their
	// modification time in the archive. Zero means time.Now().
	Date time.Time
	// Level is the deflate level, 1 (fastest) to 9 (smallest); 0 means DefaultZipLevel.
	Level int
}

// FileName returns "bookmarks-YYYY-MM-DD.<ext>" for the UTC day of date.
func FileName(date time.Time, ext string) string {
	return "bookmarks-" + date.UTC().Format("2006-01-02") + "." + ext
}

// WriteZip writes a zip archive holding the HTML (WriteHTML) and XBEL (WriteXBEL)
// renderings of t, streaming: nothing but small buffers is held in memory. The
// returned Stats are the XBEL file's counts (every link), with OmittedHTML from the
// HTML file and Bytes the size of the archive.
func WriteZip(w io.Writer, t *Tree, o ZipOptions) (Stats, error) {
	if o.Date.IsZero() {
		o.Date = time.Now()
	}
	if o.Level == 0 {
		o.Level = DefaultZipLevel
	}
	if o.Level < 1 || o.Level > 9 {
		return Stats{}, fmt.Errorf("export: zip level %d: want 1..9", o.Level)
	}
	cw := &CountingWriter{W: w}
	// zip.NewWriter wraps its writer in a 4 KiB bufio.Writer unless it is one already:
	// hand it a pooled one (the largest allocation per archive otherwise). Close
	// flushes it.
	bw := bufioPool.Get().(*bufio.Writer)
	bw.Reset(cw)
	defer func() {
		bw.Reset(nil)
		bufioPool.Put(bw)
	}()
	zw := zip.NewWriter(bw)
	zw.RegisterCompressor(zip.Deflate, compressor(o.Level))
	var st Stats
	for _, f := range []struct {
		ext    string
		render func(io.Writer, *Tree) (Stats, error)
	}{{"html", WriteHTML}, {"xbel", WriteXBEL}} {
		fw, err := zw.CreateHeader(&zip.FileHeader{
			Name:     FileName(o.Date, f.ext),
			Method:   zip.Deflate,
			Modified: o.Date.UTC(),
		})
		if err != nil {
			return st, fmt.Errorf("export: zip: %w", err)
		}
		s, err := f.render(fw, t)
		if err != nil {
			return st, fmt.Errorf("export: zip %s: %w", f.ext, err)
		}
		if f.ext == "html" {
			st.OmittedHTML = s.OmittedHTML
		} else {
			st.Folders, st.Links = s.Folders, s.Links
		}
	}
	if err := zw.Close(); err != nil {
		return st, fmt.Errorf("export: zip: %w", err)
	}
	st.Bytes = cw.N
	return st, nil
}

// CountingWriter counts the bytes written through it to W (the export command and the
// mailer measure what they write with it).
type CountingWriter struct {
	W io.Writer
	N int64
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}

// compressor returns a zip.Compressor for level that reuses flate writers (one
// allocation of ~1 MB per writer otherwise, per file).
func compressor(level int) zip.Compressor {
	p := &flatePools[level]
	return func(w io.Writer) (io.WriteCloser, error) {
		if fw, ok := p.Get().(*flate.Writer); ok {
			fw.Reset(w)
			return &pooledFlate{fw, p}, nil
		}
		fw, err := flate.NewWriter(w, level)
		if err != nil {
			return nil, err
		}
		return &pooledFlate{fw, p}, nil
	}
}

var flatePools [10]sync.Pool

var bufioPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

type pooledFlate struct {
	*flate.Writer
	pool *sync.Pool
}

func (p *pooledFlate) Close() error {
	if p.Writer == nil {
		return nil
	}
	err := p.Writer.Close()
	p.pool.Put(p.Writer)
	p.Writer = nil
	return err
}
