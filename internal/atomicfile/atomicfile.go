// Package atomicfile writes a file so that readers and crashes see either the old
// content or the whole new content, never a part: write a temp file in the same
// directory, fsync it, close it, rename it over the target, fsync the directory.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is a temp file that becomes path on Commit. Until then, path is untouched.
type File struct {
	*os.File
	path string
	// SkipDirSync leaves the directory's fsync to the caller, who syncs it once after
	// committing many files (SyncDir).
	SkipDirSync bool
	done        bool
}

// Create starts writing path through a temp file in path's directory, named by pattern
// as os.CreateTemp names it (mode 0600). The caller must Commit or Abort it.
func Create(path, pattern string) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		return nil, err
	}
	return &File{File: f, path: path}, nil
}

// Commit makes the written content path's: fsync, close, rename, fsync of the directory
// (unless SkipDirSync). On error the temp file is removed; an error from the directory's
// fsync comes after the rename, so path then holds the new content but its name may not
// survive a crash.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: committed or aborted already", f.path)
	}
	err := f.Sync()
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		f.Abort()
		return err
	}
	f.done = true
	if f.SkipDirSync {
		return nil
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort closes and removes the temp file; after Commit it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically with mode perm; the temp file is
// "."+base(path)+".*.tmp" in the same directory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// SyncDir fsyncs directory dir, so that names created or renamed in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
