package backup

import (
	"fmt"
	"strconv"
	"strings"
)

// LSN is a WAL position (PostgreSQL's pg_lsn).
type LSN uint64

// ParseLSN reads PostgreSQL's "X/Y" form.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not an LSN (want X/Y in hexadecimal, e.g. 0/3000028)", s)
	}
	return LSN(h<<32 | l), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF) }

// segment is the number of the 16 MiB segment holding l.
func (l LSN) segment() uint64 { return uint64(l) / (16 << 20) }

// needs tells whether recovery to o's target needs missing segment m.
func (o RecoverOptions) needs(m MissingSegment) bool {
	switch {
	case o.Latest:
		return true // everything up to the end must be there
	case o.ToLSN != "":
		target, err := ParseLSN(o.ToLSN)
		_, n, ok := segmentNumber(m.Name)
		// Replay reads the record at the target to stop there: the segment after the
		// target's may be needed when that record crosses into it.
		return err != nil || !ok || n <= target.segment()+1
	}
	return m.After.IsZero() || m.After.Before(o.ToTime)
}
