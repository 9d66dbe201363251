package file_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup/file"
)

// TestSymlinksOutOfTheRootAreNotFollowed: a symlink inside the store that points out of
// its root is neither read, stat'ed, written through, deleted through nor listed.
func TestSymlinksOutOfTheRootAreNotFollowed(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("not the store's"), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(s.Dir(), "snapshots", "x"), 0o700))
	must(os.Symlink(secret, filepath.Join(s.Dir(), "snapshots", "x", "manifest.json")))
	must(os.Symlink(outside, filepath.Join(s.Dir(), "snapshots", "y")))
	// A symlink that stays inside the root is fine.
	if _, err := s.Put(ctx, "snapshots/z/real", strings.NewReader("inside")); err != nil {
		t.Fatal(err)
	}
	must(os.Symlink(filepath.Join(s.Dir(), "snapshots", "z"), filepath.Join(s.Dir(), "snapshots", "w")))

	escapes := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, file.ErrOutsideRoot) {
			t.Fatalf("%s through a symlink out of the root: %v; want ErrOutsideRoot", what, err)
		}
	}
	_, err := s.Open(ctx, "snapshots/x/manifest.json")
	escapes("open", err)
	_, err = s.Open(ctx, "snapshots/y/secret")
	escapes("open below a linked directory", err)
	_, err = s.Stat(ctx, "snapshots/y/secret")
	escapes("stat", err)
	_, err = s.Put(ctx, "snapshots/y/new", strings.NewReader("escaped"))
	escapes("put", err)
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Fatal("put wrote outside the root")
	}
	escapes("delete", s.Delete(ctx, "snapshots/y/secret"))
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("delete removed a file outside the root: %v", err)
	}
	objs, err := s.List(ctx, "snapshots/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Key != "snapshots/z/real" {
			t.Fatalf("listed %s", o.Key)
		}
	}
	rc, err := s.Open(ctx, "snapshots/w/real")
	if err != nil {
		t.Fatalf("a symlink inside the root: %v", err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "inside" {
		t.Fatalf("read %q", b)
	}
}
