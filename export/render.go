package export

import (
	"io"
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
	w   io.Writer
	buf []byte
	n   int64
	err error
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

// appendTags appends the tags comma-separated, escaped.
func appendTags(b []byte, tags []string) []byte {
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEscaped(b, t)
	}
	return b
}

// appendInt is strconv.AppendInt(b, n, 10), faster for the non-negative values below
// 10^10 that dates and ids are (one append of the exact length, two digits a step).
func appendInt(b []byte, n int64) []byte {
	if n < 0 || n >= 1e10 {
		return strconv.AppendInt(b, n, 10)
	}
	w := 1
	for p := int64(10); w < 10 && n >= p; p *= 10 {
		w++
	}
	l := len(b)
	b = slices.Grow(b, w)[:l+w]
	d := b[l : l+w]
	u := uint64(n)
	i := w
	for u >= 100 {
		q := u / 100
		j := (u - q*100) * 2
		i -= 2
		d[i], d[i+1] = digits2[j], digits2[j+1]
		u = q
	}
	if u >= 10 {
		d[0], d[1] = digits2[u*2], digits2[u*2+1]
	} else {
		d[0] = byte('0' + u)
	}
	return b
}

const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendW3C appends t in UTC as W3C-DTF to the second (2006-01-02T15:04:05Z); the
// year must be within 0..9999. Same result as AppendFormat, several times faster
// (civil date from days: H. Hinnant's algorithm).
func appendW3C(b []byte, t time.Time) []byte {
	secs := t.Unix()
	days := secs / 86400
	if secs%86400 < 0 {
		days--
	}
	rem := int(secs - days*86400)
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := int(doy - (153*mp+2)/5 + 1)
	mo := int(mp + 3)
	if mp >= 10 {
		mo = int(mp - 9)
	}
	y := int(yoe + era*400)
	if mo <= 2 {
		y++
	}
	h, mi, s := rem/3600, rem/60%60, rem%60
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), 'Z')
}
