package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
)

// TestStoreTextIsPrintedWithoutControlCharacters: a name read from the store (a
// manifest's database) and an error message carrying a server's text reach the terminal
// without their control characters.
func TestStoreTextIsPrintedWithoutControlCharacters(t *testing.T) {
	dir := t.TempDir()
	st, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	evil := "bookmarks\x1b]0;pwned\x07\x1b[2J"
	m := &backup.Manifest{ID: "20260101T000000.000Z", Database: evil}
	if err := backup.WriteManifest(context.Background(), st, m); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, "snapshots", "--store", "file://"+dir)
	if code != 0 || strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `bookmarks\x1b]0;pwned\x07`) {
		t.Fatalf("snapshots: exit %d\n%q\n%s", code, out, errs)
	}
	if line := errorLine(errors.New("server says \x1b[31mred\x1b[0m")); strings.Contains(line, "\x1b") {
		t.Fatalf("error line %q", line)
	}
}
