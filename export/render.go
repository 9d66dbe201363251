package export

import (
	"io"
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
// 10^10 that dates (Unix seconds) and ids are: fixed digit positions, two digits a step
// with divisions by constants only.
func appendInt(b []byte, n int64) []byte {
	if n < 0 || n >= 1e10 {
		return strconv.AppendInt(b, n, 10)
	}
	hi := uint32(uint64(n) / 1e8) // 0..99
	lo := uint32(uint64(n) - uint64(hi)*1e8)
	a := lo / 10000
	c := lo - a*10000
	a1, a2 := a/100, a%100
	c1, c2 := c/100, c%100
	d := [10]byte{digits2[hi*2], digits2[hi*2+1], digits2[a1*2], digits2[a1*2+1], digits2[a2*2], digits2[a2*2+1],
		digits2[c1*2], digits2[c1*2+1], digits2[c2*2], digits2[c2*2+1]}
	if n >= 1e9 {
		return append(b, d[:]...)
	}
	w := 1 // digits of n
	for p := uint64(10); w < 10 && uint64(n) >= p; p *= 10 {
		w++
	}
	return append(b, d[10-w:]...)
}

const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

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
	ymd   [11]byte // "YYYY-MM-DDT" of days
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
	h, mi, s := rem/3600, rem/60%60, rem%60
	return append(b, e.ymd[0], e.ymd[1], e.ymd[2], e.ymd[3], e.ymd[4], e.ymd[5], e.ymd[6], e.ymd[7], e.ymd[8], e.ymd[9], e.ymd[10],
		digits2[h*2], digits2[h*2+1], ':', digits2[mi*2], digits2[mi*2+1], ':', digits2[s*2], digits2[s*2+1], 'Z')
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
	hi, lo := y/100%100, y%100
	e.ymd = [11]byte{digits2[hi*2], digits2[hi*2+1], digits2[lo*2], digits2[lo*2+1], '-',
		digits2[mo*2], digits2[mo*2+1], '-', digits2[d*2], digits2[d*2+1], 'T'}
	e.days, e.valid = days, true
}
