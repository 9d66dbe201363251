package export

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// The cleaning functions below turn database text into text that every reader accepts
// (see the package documentation for the rules). Each returns its argument unchanged,
// without allocating, when there is nothing to change: most rows are clean.

// CleanTitle normalises a link title or folder name: invalid UTF-8 and the
// noncharacters U+FFFE/U+FFFF become U+FFFD, every control character (C0, DEL, C1:
// CR, LF and TAB included; CRLF counts as one) becomes a space, and leading/trailing white space is
// trimmed. The result holds no line break (Chromium's line-based importer drops a
// bookmark whose title spans lines). An empty result stays empty: callers choose the
// fallback (the URL for links, UntitledFolder for folders).
func CleanTitle(s string) string {
	if isCleanLine(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1, r == 0xFFFE, r == 0xFFFF:
			b.WriteRune(utf8.RuneError)
		case isControl(r):
			b.WriteByte(' ')
			if r == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				n++ // CRLF is one line break: one space
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return strings.TrimSpace(b.String())
}

// CleanNotes normalises notes: CRLF and lone CR become LF, TAB and LF are kept, other
// control characters become a space, invalid UTF-8 and U+FFFE/U+FFFF become U+FFFD, and
// leading/trailing white space (blank lines included) is trimmed, as every reader trims
// it on import anyway.
func CleanNotes(s string) string {
	if isCleanNotes(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1, r == 0xFFFE, r == 0xFFFF:
			b.WriteRune(utf8.RuneError)
		case r == '\r':
			b.WriteByte('\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				n++
			}
		case r == '\n' || r == '\t':
			b.WriteByte(byte(r))
		case isControl(r):
			b.WriteByte(' ')
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return strings.TrimSpace(b.String())
}

// CleanTag normalises one tag like CleanTitle and also turns commas into spaces (TAGS
// is a comma-separated list). The result may be empty; such tags are not written.
func CleanTag(s string) string {
	if strings.IndexByte(s, ',') >= 0 {
		s = strings.ReplaceAll(s, ",", " ")
	}
	return CleanTitle(s)
}

// CleanURL normalises a URL the way the notes on readers require: leading and trailing
// ASCII white space and C0 controls are dropped (browsers drop them too), then every
// byte that may not stand raw in an attribute or that a reader would mangle is
// percent-encoded: C0 controls, space, DEL, '"', '<', '>', the bytes of invalid UTF-8,
// of C1 controls (U+0080..U+009F) and of U+FFFE/U+FFFF. Everything else is kept as is
// ('&' is escaped later, as &amp;, by the writers; '%' is not re-encoded).
func CleanURL(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	if isCleanURL(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+16)
	enc := func(c byte) { b = append(b, '%', hex[c>>4], hex[c&15]) }
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' {
				enc(c)
			} else {
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || (r >= 0x80 && r <= 0x9f) || r == 0xFFFE || r == 0xFFFF {
			for j := 0; j < n; j++ {
				enc(s[i+j])
			}
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// UnsafeURL reports whether a browser would treat raw as a javascript:, vbscript: or
// data: URL: it reads the scheme the way the WHATWG URL parser does (leading C0 controls
// and spaces dropped, ASCII TAB/LF/CR removed anywhere, case-insensitive). Such links
// are left out of the HTML file and kept in the XBEL file (see the package doc).
func UnsafeURL(raw string) bool {
	if strings.HasPrefix(raw, "https:") || strings.HasPrefix(raw, "http:") { // most links
		return false
	}
	var scheme [16]byte
	n := 0
	i := 0
	for i < len(raw) && raw[i] <= ' ' {
		i++
	}
	for ; i < len(raw); i++ {
		c := raw[i]
		if c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if c == ':' {
			switch string(scheme[:n]) {
			case "javascript", "vbscript", "data":
				return true
			}
			return false
		}
		if n == len(scheme) || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || n > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
		scheme[n] = c | 0x20 // ASCII lower case
		n++
	}
	return false
}

// appendEscaped appends s with exactly five characters escaped: & < > " ' as &amp;
// &lt; &gt; &quot; &#39;. These are the only references Chromium's importer decodes, and
// they are valid in XML too. Everything else is copied raw (s must already be clean).
func appendEscaped(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		for i+8 <= len(s) { // skip 8 plain bytes at a time
			q := s[i : i+8]
			if escapeByte[q[0]] || escapeByte[q[1]] || escapeByte[q[2]] || escapeByte[q[3]] ||
				escapeByte[q[4]] || escapeByte[q[5]] || escapeByte[q[6]] || escapeByte[q[7]] {
				break
			}
			i += 8
		}
		if i == len(s) {
			break
		}
		if !escapeByte[s[i]] {
			continue
		}
		dst = append(dst, s[last:i]...)
		switch s[i] {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		default:
			dst = append(dst, "&#39;"...)
		}
		last = i + 1
	}
	return append(dst, s[last:]...)
}

var escapeByte = [256]bool{'&': true, '<': true, '>': true, '"': true, '\'': true}

// escapeString is EscapeText without an allocation when nothing needs escaping.
func escapeString(s string) string {
	for i := 0; i < len(s); i++ {
		if escapeByte[s[i]] {
			b := appendEscaped(make([]byte, 0, len(s)+len(s)/4+8), s)
			return unsafe.String(unsafe.SliceData(b), len(b)) // b is not used again
		}
	}
	return s
}

// EscapeText returns s with the five characters of appendEscaped escaped (s itself,
// without allocating, when none occurs).
func EscapeText(s string) string { return escapeString(s) }

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// isCleanLine reports whether CleanTitle(s) == s, for the common case quickly.
func isCleanLine(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	i := 0
	for ; i+8 <= len(s); i += 8 { // 8 plain ASCII bytes at a time
		if v := load64(s, i); v&hi8 != 0 || hasLess(v, 0x20) || hasByte(v, 0x7f) {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || isControl(r) || r == 0xFFFE || r == 0xFFFF || isSpace(r) && (i == 0 || i+n == len(s)) {
			return false
		}
		i += n
	}
	return true
}

// isCleanNotes reports whether CleanNotes(s) == s, for the common case quickly.
func isCleanNotes(s string) bool {
	if s == "" {
		return true
	}
	if s != strings.TrimSpace(s) {
		return false
	}
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if v := load64(s, i); v&hi8 != 0 || hasLess(v, 0x20) || hasByte(v, 0x7f) {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || isControl(r) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

func isCleanURL(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if v := load64(s, i); v&hi8 != 0 || hasLess(v, 0x21) || hasByte(v, 0x7f) || hasByte(v, '"') || hasByte(v, '<') || hasByte(v, '>') {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || (r >= 0x80 && r <= 0x9f) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

// isSpace reports the non-ASCII runes strings.TrimSpace trims.
func isSpace(r rune) bool {
	return r == 0x85 || r == 0xA0 || r == 0x1680 || r >= 0x2000 && r <= 0x200a || r == 0x2028 || r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000
}

// SWAR helpers: test 8 bytes at once (https://graphics.stanford.edu/~seander/bithacks.html).
const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// hasLess reports whether a byte of v is < n; valid for bytes < 0x80 and n <= 0x80.
func hasLess(v uint64, n byte) bool { return (v-lo8*uint64(n))&^v&hi8 != 0 }

// hasByte reports whether a byte of v equals b (v holds ASCII bytes only).
func hasByte(v uint64, b byte) bool { x := v ^ (lo8 * uint64(b)); return (x-lo8)&^x&hi8 != 0 }

// Byte classes for classify: one branch-free pass tells whether a string is plain ASCII
// text that needs neither cleaning nor escaping, the common case.
const (
	clsCtl    = 1 << iota // C0 controls except TAB and LF; DEL
	clsTabLF              // TAB, LF
	clsEsc                // & < > " ' (escaped by the writers)
	clsURLBad             // space " < > (percent-encoded in URLs)
	clsComma              // , (separates tags)
	clsHigh               // non-ASCII: decided rune by rune
)

var classTable = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c == '\t' || c == '\n':
			t[c] = clsTabLF
		case c < 0x20 || c == 0x7f:
			t[c] = clsCtl
		case c >= 0x80:
			t[c] = clsHigh
		}
	}
	for _, c := range "&<>\"'" {
		t[c] |= clsEsc
	}
	for _, c := range " \"<>" {
		t[c] |= clsURLBad
	}
	t[','] |= clsComma
	return t
}()

// classify returns the union of the classes of s's bytes.
func classify(s string) uint8 {
	var c, d uint8
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			c |= classTable[s[i]]
		}
		return c
	}
	// 8 bytes a step in two chains; the tail as the last 8 bytes (overlapping).
	i := 0
	for ; i+8 <= len(s); i += 8 {
		q := s[i : i+8]
		c |= classTable[q[0]] | classTable[q[1]] | classTable[q[2]] | classTable[q[3]]
		d |= classTable[q[4]] | classTable[q[5]] | classTable[q[6]] | classTable[q[7]]
	}
	if i < len(s) {
		q := s[len(s)-8:]
		c |= classTable[q[0]] | classTable[q[1]] | classTable[q[2]] | classTable[q[3]]
		d |= classTable[q[4]] | classTable[q[5]] | classTable[q[6]] | classTable[q[7]]
	}
	return c | d
}

// spaceAtEdge reports whether s starts or ends with an ASCII space (the only white
// space classify does not flag).
func spaceAtEdge(s string) bool { return s != "" && (s[0] == ' ' || s[len(s)-1] == ' ') }
