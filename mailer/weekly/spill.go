package weekly

import (
	"bytes"
	"io"
	"os"
	"sync"
)

// bufPool keeps zip buffers (see spill) between jobs.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// spill holds a zip in memory up to limit bytes and in a temp file beyond.
type spill struct {
	buf   *bytes.Buffer
	f     *os.File
	limit int64
}

func newSpill(limit int64) *spill {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return &spill{buf: b, limit: limit}
}

func (s *spill) Write(p []byte) (int, error) {
	if s.f == nil && int64(s.buf.Len()+len(p)) > s.limit {
		f, err := os.CreateTemp("", "linkbackup-zip-*")
		if err != nil {
			return 0, err
		}
		os.Remove(f.Name()) // unlinked: gone when closed, whatever happens
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			f.Close()
			return 0, err
		}
		s.f = f
		s.buf.Reset()
	}
	if s.f != nil {
		return s.f.Write(p)
	}
	return s.buf.Write(p)
}

// reader returns a reader of everything written, from the start.
func (s *spill) reader() (io.ReadSeeker, error) {
	if s.f != nil {
		_, err := s.f.Seek(0, io.SeekStart)
		return s.f, err
	}
	return bytes.NewReader(s.buf.Bytes()), nil
}

func (s *spill) release() {
	if s.f != nil {
		s.f.Close()
	}
	if s.buf.Cap() <= 4<<20 {
		bufPool.Put(s.buf)
	}
	s.buf = nil
}
