package weekly

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCleanReply: whatever a server answers, the ledger gets valid UTF-8 without NUL
// (PostgreSQL text refuses both) of at most the limit, cut between characters.
func TestCleanReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"250 2.0.0 Ok: queued as 4F2A", 500, "250 2.0.0 Ok: queued as 4F2A"},
		{"250 ok\x00 id", 500, "250 ok id"},
		{"250 \xff\xfe ok", 500, "250 \uFFFD ok"},
		{"250 " + strings.Repeat("é", 10), 9, "250 éé"}, // 4 + 2*2 bytes fit in 9, a third é would not
		{"250 " + strings.Repeat("é", 10), 8, "250 éé"},
	} {
		got := cleanReply(tc.in, tc.max)
		if got != tc.want || !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Errorf("cleanReply(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
