package export

import (
	"slices"
	"strconv"
	"strings"
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

// TestW3CCache checks the day cache the XBEL writer reuses across dates (hits, misses,
// evictions) against time.AppendFormat, every 7 hours and 13 seconds from 1900 to 2100,
// each time followed by the same minute of the day before.
func TestW3CCache(t *testing.T) {
	lo := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	var c w3cCache
	var got, want []byte
	for s := lo; s <= hi; s += 7*3600 + 13 {
		for _, u := range []int64{s, s - 86400} {
			tm := time.Unix(u, 0)
			got = c.append(got[:0], tm)
			if want = tm.UTC().AppendFormat(want[:0], "2006-01-02T15:04:05Z"); string(got) != string(want) {
				t.Fatalf("%d: got %s, want %s", u, got, want)
			}
		}
	}
}

// FuzzBookmark checks bookmark's fast paths against the plain definition: the public
// Clean* functions, then EscapeText.
func FuzzBookmark(f *testing.F) {
	for _, s := range []string{"", " ", "plain", "a&b", "\tx\n", "x\n", "\nx", "é", "a,b", " lead", "trail ", "\x00", "\r\n", "'\"<>"} {
		f.Add(s, s+"t", "n"+s, s)
	}
	f.Fuzz(func(t *testing.T, url, title, notes, tag string) {
		l := Link{URL: url, Title: title, Notes: notes, Tags: []string{tag, "ok", tag}}
		b := bookmark(&l)
		wantURL := CleanURL(url)
		wantTitle := CleanTitle(title)
		if wantTitle == "" {
			if wantTitle = CleanTitle(wantURL); wantTitle == "" {
				wantTitle = wantURL
			}
		}
		wantNotes := CleanNotes(notes)
		var wantTags []string
		for _, tg := range l.Tags {
			if c := CleanTag(tg); c != "" {
				wantTags = append(wantTags, c)
			}
		}
		if b.URL != wantURL || b.Title != wantTitle || b.Notes != wantNotes || !slices.Equal(b.Tags, wantTags) {
			t.Fatalf("bookmark(%q, %q, %q, %q) = %q, %q, %q, %q; want %q, %q, %q, %q",
				url, title, notes, tag, b.URL, b.Title, b.Notes, b.Tags, wantURL, wantTitle, wantNotes, wantTags)
		}
		if b.escURL != EscapeText(wantURL) || b.escTitle != EscapeText(wantTitle) || b.escNotes != EscapeText(wantNotes) {
			t.Fatalf("escaped fields differ for %q %q %q", url, title, notes)
		}
		var escTags []string
		for _, tg := range wantTags {
			escTags = append(escTags, EscapeText(tg))
		}
		if b.escTags != strings.Join(escTags, ",") {
			t.Fatalf("escaped tags %q, want %q", b.escTags, escTags)
		}
		if b.Unsafe != UnsafeURL(url) {
			t.Fatalf("Unsafe(%q) = %v", url, b.Unsafe)
		}
	})
}

func TestAppendInt(t *testing.T) {
	for _, n := range []int64{0, 1, 9, 10, 99, 100, 12345, 999999999, 1e9, 1700000000, 9999999999, 1e10, 1<<63 - 1, -1, -1700000000, -1 << 63} {
		if got, want := string(appendInt([]byte("x"), n)), "x"+strconv.FormatInt(n, 10); got != want {
			t.Fatalf("appendInt(%d) = %q, want %q", n, got, want)
		}
	}
	for n := int64(1); n < 1e10; n = n*7 + 3 {
		if got, want := string(appendInt(nil, n)), strconv.FormatInt(n, 10); got != want {
			t.Fatalf("appendInt(%d) = %q, want %q", n, got, want)
		}
	}
}
