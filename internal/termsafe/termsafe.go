// Package termsafe makes text safe to print on a terminal: text read from a store or a
// server (names, errors, replies) may carry control characters that a terminal would
// obey (clear the screen, retitle the window, move the cursor). They are printed as
// visible escapes (\x1b, \u009b) instead; tab and newline are kept.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Clean returns s with every control character but tab and newline made visible.
func Clean(s string) string {
	if !needs(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteString(visible(r))
	}
	return b.String()
}

func needs(s string) bool {
	for _, r := range s {
		if isControl(r) {
			return true
		}
	}
	return false
}

func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f)
}

func visible(r rune) string {
	switch {
	case !isControl(r):
		return string(r)
	case r < 0x80:
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// Writer cleans everything written through it (see Clean).
type Writer struct {
	w    io.Writer
	part []byte // the start of a UTF-8 character split across writes
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Unwrap returns the writer underneath (to ask whether it is a terminal).
func (t *Writer) Unwrap() io.Writer { return t.w }

// Write cleans p and writes it; it reports len(p) on success.
func (t *Writer) Write(p []byte) (int, error) {
	data := append(t.part, p...)
	t.part = nil
	// Keep an incomplete trailing UTF-8 sequence for the next write.
	if i := lastStart(data); i >= 0 && !utf8.FullRune(data[i:]) {
		t.part = append([]byte{}, data[i:]...)
		data = data[:i]
	}
	if _, err := io.WriteString(t.w, Clean(string(data))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lastStart is the index of the last byte that may start a UTF-8 sequence (-1: none
// in the last 3 bytes).
func lastStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return -1
}
