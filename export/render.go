package export

import (
	"encoding/binary"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Stats counts what one render wrote.
type Stats struct {
	Folders int // folders written
	Links   int // links written (XBEL: all; HTML: all but OmittedHTML)
	// OmittedHTML counts javascript:, vbscript: and data: links left out of the HTML
	// file (they are in the XBEL file; see the package doc).
	OmittedHTML int
	Bytes       int64 // bytes written to the io.Writer
}

// out buffers small appends and writes them to w in chunks of about flushAt bytes. It
// remembers the first write error; later appends are then discarded.
type out struct {
	w     io.Writer
	buf   []byte
	n     int64
	err   error
	dates w3cCache // XBEL dates
}

const flushAt = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, flushAt+4096); return &b }}

func newOut(w io.Writer) *out {
	return &out{w: w, buf: (*bufPool.Get().(*[]byte))[:0]}
}

// maybeFlush writes the buffer once it is large enough.
func (o *out) maybeFlush() {
	if len(o.buf) >= flushAt {
		o.flush()
	}
}

func (o *out) flush() {
	if o.err == nil && len(o.buf) > 0 {
		n, err := o.w.Write(o.buf)
		o.n += int64(n)
		o.err = err
	}
	o.buf = o.buf[:0]
}

// close flushes, returns the buffer to the pool and reports the first error.
func (o *out) close() (int64, error) {
	o.flush()
	if cap(o.buf) <= 4*flushAt { // do not keep a buffer a huge title grew
		b := o.buf[:0]
		bufPool.Put(&b)
	}
	o.buf = nil
	return o.n, o.err
}

func (o *out) str(s string) { o.buf = append(o.buf, s...) }
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// UntitledFolder names a folder whose name is empty once cleaned: browsers show an
// empty folder name as a blank, unclickable row.
const UntitledFolder = "(untitled folder)"

// DocumentTitle is the title of both files (HTML <TITLE>/<H1>, XBEL <title>).
const DocumentTitle = "Bookmarks"

// appendInt is strconv.AppendInt(b, n, 10), faster for the non-negative values below
// 10^10 that dates (Unix seconds) and ids are: ten digits at fixed positions, two at a
// time from a table, stored as two words.
func appendInt(b []byte, n int64) []byte {
	if n < 0 || n >= 1e10 {
		return strconv.AppendInt(b, n, 10)
	}
	u := uint64(n)
	hi := uint32(u / 1e8) // < 100
	lo := uint32(u - uint64(hi)*1e8)
	a, c := lo/10000, lo%10000
	y := pairs[hi%100] // digits 1-2 of 10
	x := uint64(pairs[a/100%100]) | uint64(pairs[a%100])<<16 | uint64(pairs[c/100%100])<<32 | uint64(pairs[c%100])<<48
	w := (bits.Len64(u|1)*1233)>>12 + 1 // digits of n
	if w > 1 && u < pow10[w-1] {
		w--
	}
	l := len(b)
	b = room(b, 10)
	p := b[l : l+10]
	switch {
	case w <= 8: // the last w digits of x, moved to its first bytes
		binary.LittleEndian.PutUint64(p, x>>(64-8*w))
	case w == 9:
		p[0] = byte(y >> 8)
		binary.LittleEndian.PutUint64(p[1:], x)
	default:
		binary.LittleEndian.PutUint16(p, y)
		binary.LittleEndian.PutUint64(p[2:], x)
	}
	return b[:l+w]
}

// room returns b with capacity for n more bytes (same length): the fixed-size stores
// above write into it directly instead of appending a temporary array.
func room(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		b = slices.Grow(b, n)
	}
	return b
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// pairs[i] is the two ASCII digits of i, the first in the low byte (little-endian).
var pairs = func() (p [100]uint16) {
	for i := range p {
		p[i] = uint16('0'+i/10) | uint16('0'+i%10)<<8
	}
	return p
}()

// appendW3C appends t in UTC as W3C-DTF to the second (2006-01-02T15:04:05Z); the
// year must be within 0..9999. Same result as AppendFormat, several times faster.
func appendW3C(b []byte, t time.Time) []byte {
	var c w3cCache
	return c.append(b, t)
}

// w3cCache formats W3C-DTF dates, remembering the last days seen (direct-mapped by
// day number): a member's dates (added, modified) often fall on the same few days.
type w3cCache struct {
	e [8]w3cDay
}

type w3cDay struct {
	days  int64
	valid bool
	ymd   uint64 // "YYYY-MM-" of days, little-endian
	dd    uint64 // "DDT" of days, little-endian
}

// append appends t like appendW3C.
func (c *w3cCache) append(b []byte, t time.Time) []byte {
	secs := t.Unix()
	days := secs / 86400
	if secs%86400 < 0 {
		days--
	}
	e := &c.e[days&7]
	if !e.valid || days != e.days {
		e.set(days)
	}
	rem := uint32(secs - days*86400)
	h, mi, s := rem/3600%100, rem/60%60, rem%60
	// "YYYY-MM-" "DDTHH:MM" ":SSZ"
	l := len(b)
	b = room(b, 20)
	d := b[l : l+20]
	binary.LittleEndian.PutUint64(d[0:], e.ymd)
	binary.LittleEndian.PutUint64(d[8:], e.dd|uint64(pairs[h])<<24|':'<<40|uint64(pairs[mi])<<48)
	binary.LittleEndian.PutUint32(d[16:], ':'|uint32(pairs[s])<<8|'Z'<<24)
	return b[:l+20]
}

// set computes the civil date of a day number (days since 1970-01-01, year 0..9999)
// with H. Hinnant's algorithm and stores it as "YYYY-MM-DDT". Days from 0000-03-01 on
// are non-negative after the shift, so unsigned arithmetic does.
func (e *w3cDay) set(days int64) {
	var y, mo, d uint64
	if z := days + 719468; z >= 0 {
		doe := uint64(z) % 146097
		era := uint64(z) / 146097
		yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
		doy := doe - (365*yoe + yoe/4 - yoe/100)
		mp := (5*doy + 2) / 153
		d = doy - (153*mp+2)/5 + 1
		mo = mp + 3
		if mp >= 10 {
			mo = mp - 9
		}
		y = yoe + era*400
		if mo <= 2 {
			y++
		}
	} else { // before 0000-03-01: not written (see minW3C), formatted for completeness
		tm := time.Unix(days*86400, 0).UTC()
		y, mo, d = uint64(max(tm.Year(), 0)), uint64(tm.Month()), uint64(tm.Day())
	}
	e.ymd = uint64(pairs[y/100%100]) | uint64(pairs[y%100])<<16 | '-'<<32 | uint64(pairs[mo%100])<<40 | '-'<<56
	e.dd = uint64(pairs[d%100]) | 'T'<<16
	e.days, e.valid = days, true
}
