package main

import (
	"strings"
	"testing"
)

// TestCLIStatusUnknown: usage errors and an unreachable store are UNKNOWN (3), never 2.
func TestCLIStatusUnknown(t *testing.T) {
	for _, args := range [][]string{
		{"status"},
		{"status", "--no-such-flag"},
		{"status", "extra-arg", "--store", "file:///tmp/x"},
		{"status", "--store", "ftp://x/y"},
		{"status", "--store", "file:///tmp/x", "--now", "yesterday"},
	} {
		if _, errs, code := run(t, args...); code != 3 {
			t.Fatalf("%v: exit %d, want 3 (UNKNOWN): %s", args, code, errs)
		}
	}
	t.Setenv("LINKBACKUP_STATUS_TIMEOUT", "20s")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	out, errs, code := run(t, "status", "--store", "s3://b/p?endpoint=http://127.0.0.1:1&path_style=true&region=us-east-1&max_attempts=1")
	if code != 3 || !strings.HasPrefix(out, "LINKBACKUP UNKNOWN - store unreachable") {
		t.Fatalf("unreachable store: exit %d\n%s\n%s", code, out, errs)
	}
}
