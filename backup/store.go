package backup

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store is where snapshots live: a flat namespace of keys ("snapshots/ID/manifest.json")
// holding immutable objects. Backends: backup/file (file://) and backup/s3 (s3://).
//
// Contract (checked for every backend by backup/storetest.Run):
//   - Keys are slash-separated, relative, non-empty, without "." or ".." elements and
//     without a leading or trailing slash. An invalid key returns an error wrapping ErrInvalidKey.
//   - Put streams r (length unknown in advance) into key and returns the stored object's
//     size. The object becomes visible only complete: a reader never sees a partial object,
//     and a Put that fails or whose ctx is cancelled leaves no object (or the previous one)
//     under key. Put overwrites an existing object.
//   - Open returns a reader of the whole object. A missing key returns an error for which
//     errors.Is(err, fs.ErrNotExist) holds (from Open itself, not from the first Read).
//   - Stat returns size and modification time; a missing key: errors.Is(err, fs.ErrNotExist).
//   - List returns every object whose key starts with prefix (a plain string prefix, not
//     only at slash boundaries), sorted by key ascending, without limit (backends paginate).
//     An empty result is not an error.
//   - Delete removes key; deleting a missing key is not an error.
//   - A key and a key below it ("a" and "a/b") cannot both exist (directories on the
//     file backend and versitygw's posix backend); the snapshot layout never needs that.
//   - Every method honours ctx cancellation.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) (ObjectInfo, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	Delete(ctx context.Context, key string) error
	// String describes the store for logs and errors, without secrets.
	String() string
}

// Linker is an optional capability of a Store: it hands out a URL from which an existing
// object can be downloaded without the store's credentials (restic's AsBackend idea:
// callers type-assert a Store to Linker; use AsLinker to see through wrappers).
//
// Contract (checked by backup/storetest.Run where implemented):
//   - Link returns a URL for key that stays valid for at least ttl. It does not create
//     or check the object: callers Put it first. An invalid key returns an error
//     wrapping ErrInvalidKey.
//   - MaxLinkTTL returns the longest ttl Link accepts (0 = no limit); Link returns an
//     error for a ttl above it or a ttl <= 0.
//   - Link honours ctx cancellation.
type Linker interface {
	Link(ctx context.Context, key string, ttl time.Duration) (url string, err error)
	MaxLinkTTL() time.Duration
}

// Unwrapper is implemented by Stores that wrap another Store (retries, metrics).
type Unwrapper interface {
	Unwrap() Store
}

// AsLinker returns st as a Linker, looking through wrappers (Unwrapper) until a store
// implements Linker; ok is false when none does.
func AsLinker(st Store) (l Linker, ok bool) {
	for st != nil {
		if l, ok := st.(Linker); ok {
			return l, true
		}
		u, isWrapper := st.(Unwrapper)
		if !isWrapper {
			break
		}
		st = u.Unwrap()
	}
	return nil, false
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// sizeHintKey carries the expected size of the next Put: backends that choose multipart
// part sizes use it so that 10,000 parts always suffice.
type sizeHintKey struct{}

// WithSizeHint returns a context carrying the expected size in bytes of the next Put.
// Backends may use it to size multipart parts; it is only a hint.
func WithSizeHint(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, sizeHintKey{}, n)
}

// SizeHint returns the hint set by WithSizeHint, or 0.
func SizeHint(ctx context.Context) int64 {
	n, _ := ctx.Value(sizeHintKey{}).(int64)
	return n
}

// ErrInvalidKey is wrapped by errors for keys that break the Store contract.
var ErrInvalidKey = errors.New("invalid store key")

// ValidateKey checks a key against the Store contract.
func ValidateKey(key string) error {
	if key == "" || key[0] == '/' || key[len(key)-1] == '/' {
		return &keyError{key}
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			el := key[start:i]
			if el == "" || el == "." || el == ".." {
				return &keyError{key}
			}
			start = i + 1
		}
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] == 0x7f || key[i] == '\\' {
			return &keyError{key}
		}
	}
	return nil
}

type keyError struct{ key string }

func (e *keyError) Error() string { return "invalid store key " + quoteKey(e.key) }
func (e *keyError) Unwrap() error { return ErrInvalidKey }

func quoteKey(k string) string {
	b := []byte{'"'}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(append(b, '"'))
}
