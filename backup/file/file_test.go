package file_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/backup/storetest"
)

func newStore(t *testing.T) *file.Store {
	t.Helper()
	s, err := file.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.RunOptions(t, storetest.Options{ManyKeys: 1100}, func(t *testing.T) backup.Store {
		return newStore(t)
	})
}

func TestNewCreatesDirAndString(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("New did not create %s: %v", dir, err)
	}
	if got, want := s.String(), "file://"+dir; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestNewRejectsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := file.New(p); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("New(file) = %v, want a 'not a directory' error", err)
	}
	if _, err := file.New(""); err == nil {
		t.Fatal("New(\"\") succeeded")
	}
}

// TestTempFiles checks that unfinished Puts are invisible and reserved, and that a
// failed Put removes its temp file.
func TestTempFiles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Put(ctx, "d/.lbtmp-x", strings.NewReader("x")); !errors.Is(err, backup.ErrInvalidKey) {
		t.Fatalf("Put of a reserved name: %v, want ErrInvalidKey", err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir(), "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "d", ".lbtmp-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "")
	if err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v; want no objects (temp files are hidden)", list, err)
	}
	if _, err := s.Put(ctx, "d/obj", iotestErr{}); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "d"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != ".lbtmp-123" {
		t.Fatalf("after a failed Put the directory holds %v; want only the planted temp file", ents)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("boom") }

// TestKeyUnderObject: "a/b" cannot exist beside the object "a" in a directory tree;
// Put says so and the lookups report "missing".
func TestKeyUnderObject(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Put(ctx, "a", strings.NewReader("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "a/b", strings.NewReader("b")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Put(a/b) beside object a: %v; want a clear error", err)
	}
	if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(a/b): %v; want fs.ErrNotExist", err)
	}
	if err := s.Delete(ctx, "a/b"); err != nil {
		t.Fatalf("Delete(a/b): %v; want nil", err)
	}
}

// TestDeletePrunesDirectories: deleting the last object of a directory removes the
// directory, up to (not including) the store root.
func TestDeletePrunesDirectories(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Put(ctx, "x/y/z", strings.NewReader("z")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "x/y/z"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("x/ still exists after its last object was deleted: %v", err)
	}
	if _, err := os.Stat(s.Dir()); err != nil {
		t.Fatalf("store root removed: %v", err)
	}
}

func TestFilePermissions(t *testing.T) {
	s := newStore(t)
	if _, err := s.Put(context.Background(), "p/q", strings.NewReader("secret")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{"p": 0o700, "p/q": 0o600} {
		fi, err := os.Stat(filepath.Join(s.Dir(), p))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Fatalf("%s has mode %o, want %o", p, got, want)
		}
	}
}
