package termsafe_test

import (
	"bytes"
	"testing"

	"github.com/linkagogo/linkbackup/internal/termsafe"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, tab\tand newline\n": "plain text, tab\tand newline\n",
		"evil\x1b]0;pwned\x07name":       `evil\x1b]0;pwned\x07name`,
		"clear\x1b[2J\rover":             `clear\x1b[2J\x0dover`,
		"c1 \u009b31m and del \x7f":      `c1 \u009b31m and del \x7f`,
		"ünïcode stays":                  "ünïcode stays",
	} {
		if got := termsafe.Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriter: control characters are made visible even when a write splits a C1
// character's UTF-8 encoding.
func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := termsafe.NewWriter(&b)
	for _, p := range []string{"a\x1b[", "31m b \xc2", "\x9b c \xc3", "\xa9\n"} {
		if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if got, want := b.String(), `a\x1b[31m b \u009b c é`+"\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
