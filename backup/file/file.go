// Package file implements backup.Store on a local directory (file:///abs/dir).
//
// A key maps to the path dir/<key> ("/" becomes the OS separator). Put writes a temporary
// file next to its target (named ".lbtmp-*", never listed), fsyncs it, renames it over the
// target and fsyncs the directory, so an object is either absent, the previous one or
// complete. Files are created 0600 and directories 0700: snapshots hold private data.
//
// A symlink inside the directory that leads out of it is never followed: Open, Stat, Put
// and Delete through it fail with ErrOutsideRoot, and List does not descend into it.
//
// Unlike S3, a directory cannot also be an object: keys "a" and "a/b" cannot both exist
// (Put returns an error for the second). Snapshot layouts never need both.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/atomicfile"
)

// tempPrefix starts the names of files that Put has not finished; List skips them and
// keys with an element starting with it are invalid for this store.
const tempPrefix = ".lbtmp-"

// ErrOutsideRoot: a key's path leaves the store's directory through a symlink; the store
// never reads, writes or deletes there.
var ErrOutsideRoot = errors.New("path leaves the store directory through a symlink")

// Store is a backup.Store in a local directory.
type Store struct {
	dir string // absolute, cleaned
}

var _ backup.Store = (*Store)(nil)

var _ backup.Linker = (*Store)(nil)

// New returns a store rooted at dir, creating it (0700) if missing. dir is made absolute.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("file: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("file: create store directory: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file: %s is not a directory", abs)
	}
	return &Store{dir: abs}, nil
}

// Dir returns the store's absolute root directory.
func (s *Store) Dir() string { return s.dir }

// MaxLinkTTL returns 0: file URLs do not expire.
func (s *Store) MaxLinkTTL() time.Duration { return 0 }

// Link returns the file:// URL of key's path, which only works on this machine (or
// wherever the directory is mounted); ttl is not enforced: expire objects with a job.
func (s *Store) Link(ctx context.Context, key string, ttl time.Duration) (string, error) {
	p, err := s.path(key)
	if err != nil {
		return "", fmt.Errorf("file: link: %w", err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("file: link %s: ttl %s", key, ttl)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("file: link %s: %w", key, err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(p)}
	return u.String(), nil
}

// String returns "file:///abs/dir".
func (s *Store) String() string { return "file://" + filepath.ToSlash(s.dir) }

func (s *Store) path(key string) (string, error) {
	if err := backup.ValidateKey(key); err != nil {
		return "", err
	}
	for _, el := range strings.Split(key, "/") {
		if strings.HasPrefix(el, tempPrefix) {
			return "", fmt.Errorf("%w %q: elements starting with %q are reserved by the file store", backup.ErrInvalidKey, key, tempPrefix)
		}
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Put writes r to key atomically (temp file, fsync, rename, fsync directory).
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (backup.ObjectInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: put %s: %w", key, err)
	}
	info, err := s.put(ctx, key, p, r)
	if err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: put %s: %w", key, err)
	}
	return info, nil
}

func (s *Store) put(ctx context.Context, key, p string, r io.Reader) (info backup.ObjectInfo, err error) {
	dir := filepath.Dir(p)
	if err := s.confine(dir); err != nil {
		return info, err
	}
	var f *atomicfile.File
	// A concurrent Delete may remove an empty parent between mkdir and create: retry.
	for attempt := 0; ; attempt++ {
		if err := s.mkdirAll(dir); err != nil {
			return info, err
		}
		f, err = atomicfile.Create(p, tempPrefix+"*")
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return info, err
		}
	}
	defer f.Abort() // after Commit: nothing
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return info, err
	}
	fi, err := f.Stat()
	if err != nil {
		return info, err
	}
	if fi.Size() != n {
		return info, fmt.Errorf("wrote %d bytes but the file holds %d", n, fi.Size())
	}
	// Last chance to honour a cancellation: after the rename the object exists.
	if err := ctx.Err(); err != nil {
		return info, err
	}
	// An error from the directory's fsync comes after the rename: the object is in place
	// but its name may not survive a crash, so it is reported.
	if err := f.Commit(); err != nil {
		return info, err
	}
	return backup.ObjectInfo{Key: key, Size: n, ModTime: fi.ModTime()}, nil
}

// mkdirAll creates dir and missing parents below the store root, fsyncing the parent of
// each directory it creates so the new entries survive a crash.
func (s *Store) mkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is an object, not a directory", s.rel(dir))
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) || dir == s.dir {
		return err
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return s.mkdirAll(dir) // raced with another Put; check it is a directory
		}
		return err
	}
	return atomicfile.SyncDir(parent)
}

func (s *Store) rel(p string) string {
	r, err := filepath.Rel(s.dir, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

// Open opens key for reading.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, fmt.Errorf("file: open: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file: open %s: %w", key, err)
	}
	if err := s.confine(p); err != nil {
		return nil, fmt.Errorf("file: open %s: %w", key, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("file: open %s: %w", key, notExist(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file: open %s: %w", key, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("file: open %s: %w", key, fs.ErrNotExist)
	}
	return f, nil
}

// Stat returns the size and modification time of key.
func (s *Store) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: stat %s: %w", key, err)
	}
	if err := s.confine(p); err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: stat %s: %w", key, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return backup.ObjectInfo{}, fmt.Errorf("file: stat %s: %w", key, notExist(err))
	}
	if fi.IsDir() {
		return backup.ObjectInfo{}, fmt.Errorf("file: stat %s: %w", key, fs.ErrNotExist)
	}
	return backup.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// confine refuses p when its real path (that of its deepest existing ancestor while it
// does not exist) is not under the store's real root: a symlink inside the store that
// points out of it is never followed.
func (s *Store) confine(p string) error {
	root, err := filepath.EvalSymlinks(s.dir)
	if err != nil {
		return err
	}
	for q := p; ; q = filepath.Dir(q) {
		real, err := filepath.EvalSymlinks(q)
		if err == nil {
			if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
				return fmt.Errorf("%w: %s", ErrOutsideRoot, s.rel(q))
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		if len(q) <= len(s.dir) {
			return nil
		}
	}
}

// notExist turns "a path element is a file" (ENOTDIR) into fs.ErrNotExist: the key
// "a/b" is missing when "a" is an object.
func notExist(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) && errors.Is(pe.Err, syscall.ENOTDIR) {
		return fmt.Errorf("%w (%v)", fs.ErrNotExist, err)
	}
	return err
}

// List returns every object whose key starts with prefix, sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]backup.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file: list %q: %w", prefix, err)
	}
	// Walk only the deepest directory the prefix names entirely.
	root := s.dir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		sub := prefix[:i]
		if backup.ValidateKey(sub) != nil {
			return nil, nil // no valid key can start with prefix
		}
		root = filepath.Join(s.dir, filepath.FromSlash(sub))
	}
	var out []backup.ObjectInfo
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(notExist(err), fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		key := s.rel(p)
		if d.IsDir() {
			// Prune directories that cannot hold a matching key.
			if p != root && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		out = append(out, backup.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("file: list %q: %w", prefix, err)
	}
	// WalkDir orders per directory ("a" before "a-b"), keys order as strings ("a-b" < "a/x").
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes key and then its parent directories that became empty. A missing key is
// not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("file: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file: delete %s: %w", key, err)
	}
	if err := s.confine(filepath.Dir(p)); err != nil {
		return fmt.Errorf("file: delete %s: %w", key, err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(notExist(err), fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("file: delete %s: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a "directory" key is not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file: delete %s: %w", key, err)
	}
	// ErrNotExist: a concurrent Delete of a sibling removed the emptied directory, and
	// with it the entry this sync would have made durable.
	if err := atomicfile.SyncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file: delete %s: %w", key, err)
	}
	// Best effort: remove now-empty parents (fails harmlessly when not empty).
	for d := filepath.Dir(p); d != s.dir && strings.HasPrefix(d, s.dir); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
