package mailer

import (
	"bufio"
	"bytes"
	"sync"
	"time"
)

// dotWriter writes SMTP message data (RFC 5321 4.5.2) exactly as net/textproto's
// DotWriter does: a '.' at the start of a line is doubled and a bare LF becomes CRLF
// (a bare CR passes through); Close ends the last line if needed and writes ".\r\n",
// then flushes. It works on whole lines instead of single bytes.
type dotWriter struct {
	w   *bufio.Writer
	bol bool // at the beginning of a line
	cr  bool // textproto's CR state: the next '\n' ends the line as it is
}

func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.bol && p[0] == '.' {
			d.w.WriteByte('.')
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.w.Write(p)
			d.bol, d.cr = false, crState(d.cr, p)
			break
		}
		if i > 0 {
			d.w.Write(p[:i])
			d.cr = crState(d.cr, p[:i])
		}
		if !d.cr {
			d.w.WriteByte('\r')
		}
		d.w.WriteByte('\n')
		d.bol, d.cr = true, false
		p = p[i+1:]
	}
	// bufio.Writer keeps its first write error and returns it from every later call.
	if _, err := d.w.Write(nil); err != nil {
		return 0, err
	}
	return n, nil
}

var dataBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// crState returns whether textproto's DotWriter is in its CR state after seg (no
// '\n' in it) when cr was the state before: each '\r' of a trailing run toggles it
// (a CR after a CR is data), and any other byte clears it.
func crState(cr bool, seg []byte) bool {
	r := len(seg) - len(bytes.TrimRight(seg, "\r"))
	if r < len(seg) {
		cr = false
	}
	return cr != (r%2 == 1)
}

// Close writes the end of data (".\r\n" at the start of a line) and flushes.
func (d *dotWriter) Close() error {
	switch {
	case d.cr:
		d.w.WriteByte('\n')
	case !d.bol:
		d.w.WriteString("\r\n")
	}
	d.w.WriteString(".\r\n")
	return d.w.Flush()
}

// extendWriter extends the connection deadline as data flows, so that Timeout bounds
// a stalled write and not the whole (possibly large) message.
type extendWriter struct {
	w       interface{ Write([]byte) (int, error) }
	c       *conn
	timeout time.Duration
	last    time.Time
}

func (e *extendWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(e.last) > time.Second {
		e.c.extend(e.timeout)
		e.last = now
	}
	return e.w.Write(p)
}
