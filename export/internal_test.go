package export

import (
	"testing"
	"time"
)

// TestAppendW3CEverywhere compares appendW3C with time.AppendFormat every 3 days, 1 hour
// and 7 seconds from year 1 to 9999 (all months, leap days and times of day).
func TestAppendW3CEverywhere(t *testing.T) {
	lo := time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	var got, want []byte
	for s := lo; s <= hi; s += 3*86400 + 3607 {
		tm := time.Unix(s, 0)
		got = appendW3C(got[:0], tm)
		want = tm.UTC().AppendFormat(want[:0], "2006-01-02T15:04:05Z")
		if string(got) != string(want) {
			t.Fatalf("%d: got %s, want %s", s, got, want)
		}
	}
}
