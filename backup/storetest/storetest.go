// Package storetest is the conformance suite of backup.Store: every backend runs the same
// tests (restic's internal/backend/test, River's driver suite), one per contract clause
// of backup.Store.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) backup.Store { return newEmptyStore(t) })
//	}
//
// newStore must return an empty store, private to the (sub)test, cleaned up by t.Cleanup.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"golang.org/x/sync/errgroup"
)

// Options tunes the suite. The zero value of a field selects its default.
type Options struct {
	// ManyKeys, when > 0, puts this many keys and lists them: use more than 1,000 to
	// check that List follows every page (S3 returns at most 1,000 keys a page).
	// Default 0: skipped.
	ManyKeys int
	// BigSize is the size of the large object streamed through a slow reader in small
	// pieces; large enough to force multipart uploads on S3 (8 MiB parts).
	// Default 20 MiB.
	BigSize int
	// Timeout bounds each subtest. Default 2 minutes.
	Timeout time.Duration
}

// DefaultOptions returns the options Run uses.
func DefaultOptions() Options { return Options{}.withDefaults() }

func (o Options) withDefaults() Options {
	if o.BigSize <= 0 {
		o.BigSize = 20 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	return o
}

// Run runs the suite with DefaultOptions.
func Run(t *testing.T, newStore func(t *testing.T) backup.Store) {
	t.Helper()
	RunOptions(t, Options{}, newStore)
}

// RunOptions runs every test of the suite as a subtest, each on a fresh store.
func RunOptions(t *testing.T, opts Options, newStore func(t *testing.T) backup.Store) {
	t.Helper()
	opts = opts.withDefaults()
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s backup.Store, o Options)
	}{
		{"RoundTrip", testRoundTrip},
		{"BigSlowStream", testBigSlowStream},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"List", testList},
		{"ListEmpty", testListEmpty},
		{"ManyKeys", testManyKeys},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"ReaderErrorLeavesNoObject", testReaderError},
		{"CancelDuringPutLeavesNoObject", testCancelDuringPut},
		{"CancelledContext", testCancelledContext},
		{"AtomicVisibility", testAtomicVisibility},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentDeletes", testConcurrentDeletes},
		{"Link", testLink},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "ManyKeys" && opts.ManyKeys <= 0 {
				t.Skip("Options.ManyKeys is 0")
			}
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			ctx, cancel := context.WithTimeout(t.Context(), opts.Timeout)
			defer cancel()
			tc.fn(t, ctx, s, opts)
		})
	}
}

// data returns n deterministic pseudo-random bytes.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 7}).Read(b)
	return b
}

func put(t *testing.T, ctx context.Context, s backup.Store, key string, b []byte) backup.ObjectInfo {
	t.Helper()
	info, err := s.Put(ctx, key, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(b), err)
	}
	if info.Key != key || info.Size != int64(len(b)) {
		t.Fatalf("Put(%q, %d bytes) returned %+v, want key %q size %d", key, len(b), info, key, len(b))
	}
	return info
}

func get(t *testing.T, ctx context.Context, s backup.Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("close %q: %v", key, err)
	}
	return b
}

func wantContent(t *testing.T, ctx context.Context, s backup.Store, key string, want []byte) {
	t.Helper()
	got := get(t, ctx, s, key)
	if !bytes.Equal(got, want) {
		t.Fatalf("Open(%q): got %d bytes (sha256 %x), want %d bytes (sha256 %x)",
			key, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if info.Key != key || info.Size != int64(len(want)) {
		t.Fatalf("Stat(%q) = %+v, want size %d", key, info, len(want))
	}
}

func wantMissing(t *testing.T, ctx context.Context, s backup.Store, key string) {
	t.Helper()
	rc, err := s.Open(ctx, key)
	if err == nil {
		rc.Close()
		t.Fatalf("Open(%q) of a missing key succeeded", key)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(%q) of a missing key: %v; want an error wrapping fs.ErrNotExist", key, err)
	}
	if info, err := s.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(%q) of a missing key = %+v, %v; want an error wrapping fs.ErrNotExist", key, info, err)
	}
	list, err := s.List(ctx, key)
	if err != nil {
		t.Fatalf("List(%q): %v", key, err)
	}
	for _, o := range list {
		if o.Key == key {
			t.Fatalf("List(%q) lists missing key %q: %+v", key, key, list)
		}
	}
}

func keys(list []backup.ObjectInfo) []string {
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.Key
	}
	return out
}

func wantList(t *testing.T, ctx context.Context, s backup.Store, prefix string, want []string) []backup.ObjectInfo {
	t.Helper()
	list, err := s.List(ctx, prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	if got := keys(list); !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", prefix, got, want)
	}
	return list
}

func testRoundTrip(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	before := time.Now()
	cases := []struct {
		key  string
		data []byte
	}{
		{"empty", nil},
		{"one", []byte{'x'}},
		{"dir/sub/small.bin", data(1, 100<<10)},
		{"with space/ünïcode €.json", []byte(`{"ok":true}`)},
		{"snapshots/20260101T000000Z/manifest.json", data(2, 4097)},
	}
	for _, c := range cases {
		info := put(t, ctx, s, c.key, c.data)
		if d := info.ModTime.Sub(before); info.ModTime.IsZero() || d < -5*time.Minute || d > 5*time.Minute {
			t.Fatalf("Put(%q) ModTime %v, want close to %v", c.key, info.ModTime, before)
		}
	}
	for _, c := range cases {
		wantContent(t, ctx, s, c.key, c.data)
		info, err := s.Stat(ctx, c.key)
		if err != nil {
			t.Fatal(err)
		}
		if d := info.ModTime.Sub(before); info.ModTime.IsZero() || d < -5*time.Minute || d > 5*time.Minute {
			t.Fatalf("Stat(%q) ModTime %v, want close to %v", c.key, info.ModTime, before)
		}
	}
	list := wantList(t, ctx, s, "", []string{
		"dir/sub/small.bin", "empty", "one",
		"snapshots/20260101T000000Z/manifest.json", "with space/ünïcode €.json"})
	for _, o := range list {
		for _, c := range cases {
			if o.Key == c.key && o.Size != int64(len(c.data)) {
				t.Fatalf("List: %q has size %d, want %d", o.Key, o.Size, len(c.data))
			}
		}
	}
}

// slowReader hands out b in small, uneven pieces, pausing now and then, like a pipe
// from pg_dump through a compressor.
type slowReader struct {
	b     []byte
	rng   *rand.Rand
	reads int
	// after is called once when off passes at (if set).
	at    int
	after func()
	off   int
}

func newSlowReader(b []byte) *slowReader {
	return &slowReader{b: b, rng: rand.New(rand.NewPCG(1, 2)), at: -1}
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	r.reads++
	if r.reads%16 == 0 {
		time.Sleep(time.Millisecond)
	}
	n := 1 + r.rng.IntN(32<<10)
	n = min(n, len(p), len(r.b)-r.off)
	if r.at >= 0 && r.off+n > r.at {
		n = max(r.at-r.off, 0)
		if n == 0 {
			f := r.after
			r.at, r.after = -1, nil
			f()
			return 0, nil
		}
	}
	copy(p, r.b[r.off:r.off+n])
	r.off += n
	return n, nil
}

func testBigSlowStream(t *testing.T, ctx context.Context, s backup.Store, o Options) {
	want := data(3, o.BigSize)
	start := time.Now()
	info, err := s.Put(ctx, "big/object.bin", newSlowReader(want))
	if err != nil {
		t.Fatalf("Put of %d bytes through a slow reader: %v", len(want), err)
	}
	if info.Size != int64(len(want)) {
		t.Fatalf("Put returned size %d, want %d", info.Size, len(want))
	}
	t.Logf("streamed %d MiB in %v", len(want)>>20, time.Since(start).Round(time.Millisecond))
	wantContent(t, ctx, s, "big/object.bin", want)
}

func testOverwrite(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	v1, v2 := data(4, 300<<10), data(5, 1000)
	put(t, ctx, s, "k/over", v1)
	put(t, ctx, s, "k/over", v2) // shorter: no tail of v1 may survive
	wantContent(t, ctx, s, "k/over", v2)
	list := wantList(t, ctx, s, "k/", []string{"k/over"})
	if list[0].Size != int64(len(v2)) {
		t.Fatalf("List after overwrite: size %d, want %d", list[0].Size, len(v2))
	}
	put(t, ctx, s, "k/over", nil)
	wantContent(t, ctx, s, "k/over", nil)
}

func testMissing(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	wantMissing(t, ctx, s, "nothing/here")
	put(t, ctx, s, "d/x", []byte("x"))
	// "d" is a prefix of an object, not an object.
	wantMissing(t, ctx, s, "d")
	wantMissing(t, ctx, s, "d/x/y")
	wantMissing(t, ctx, s, "d/y")
}

func testList(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	// No key is also a "directory" of another ("a" and "a/b"): a file tree cannot hold both.
	all := []string{"a-b", "a/b", "a/b.d/e", "a/bc", "a/c/d", "ab/x", "b", "c/a"}
	for i, k := range slices.Backward(all) { // insertion order differs from key order
		put(t, ctx, s, k, data(uint64(10+i), i*10))
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"a", []string{"a-b", "a/b", "a/b.d/e", "a/bc", "a/c/d", "ab/x"}},
		{"a/", []string{"a/b", "a/b.d/e", "a/bc", "a/c/d"}},
		{"a/b", []string{"a/b", "a/b.d/e", "a/bc"}}, // a plain prefix, not a directory
		{"a/b.", []string{"a/b.d/e"}},
		{"a/c/", []string{"a/c/d"}},
		{"a/c/d", []string{"a/c/d"}},
		{"a/c/d/", nil},
		{"b/", nil},
		{"c", []string{"c/a"}},
		{"c/", []string{"c/a"}},
		{"d", nil},
		{"zzz/", nil},
		{"/a", nil},
		{"../", nil},
	} {
		wantList(t, ctx, s, c.prefix, c.want)
	}
	list := wantList(t, ctx, s, "", all)
	for i, o := range list {
		if o.Size != int64(i*10) {
			t.Fatalf("List: %q has size %d, want %d", o.Key, o.Size, i*10)
		}
		if o.ModTime.IsZero() {
			t.Fatalf("List: %q has no ModTime", o.Key)
		}
	}
}

func testListEmpty(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	for _, p := range []string{"", "a", "snapshots/"} {
		list, err := s.List(ctx, p)
		if err != nil {
			t.Fatalf("List(%q) on an empty store: %v", p, err)
		}
		if len(list) != 0 {
			t.Fatalf("List(%q) on an empty store = %q", p, keys(list))
		}
	}
}

func testManyKeys(t *testing.T, ctx context.Context, s backup.Store, o Options) {
	want := make([]string, o.ManyKeys)
	for i := range want {
		want[i] = fmt.Sprintf("many/%05d", i)
	}
	// Neighbours that a sloppy prefix or page boundary would include.
	decoys := []string{"man", "many-", "many0", "manz/1"}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, k := range slices.Concat(want, decoys) {
		g.Go(func() error {
			_, err := s.Put(gctx, k, strings.NewReader(fmt.Sprint(i)))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("Put: %v", err)
	}
	t.Logf("put %d keys in %v", len(want)+len(decoys), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	list, err := s.List(ctx, "many/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	t.Logf("listed %d keys in %v", len(list), time.Since(start).Round(time.Millisecond))
	if got := keys(list); !slices.Equal(got, want) {
		t.Fatalf("List(\"many/\") returned %d keys (first %q, last %q), want %d",
			len(got), first(got), last(got), len(want))
	}
	all := wantList(t, ctx, s, "", slices.Sorted(slices.Values(slices.Concat(want, decoys))))
	if len(all) != o.ManyKeys+len(decoys) {
		t.Fatalf("List(\"\") = %d keys", len(all))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func testDelete(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	put(t, ctx, s, "del/a", []byte("a"))
	put(t, ctx, s, "del/b", []byte("b"))
	put(t, ctx, s, "delx", []byte("x"))
	if err := s.Delete(ctx, "del/a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, ctx, s, "del/a")
	wantContent(t, ctx, s, "del/b", []byte("b"))
	wantList(t, ctx, s, "del", []string{"del/b", "delx"})
	if err := s.Delete(ctx, "del/a"); err != nil {
		t.Fatalf("second Delete of the same key: %v; want nil", err)
	}
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("Delete of a missing key: %v; want nil", err)
	}
	// "del" is a prefix of an object, not an object: deleting it removes nothing.
	if err := s.Delete(ctx, "del"); err != nil {
		t.Fatalf("Delete(\"del\") of a prefix: %v; want nil", err)
	}
	wantContent(t, ctx, s, "del/b", []byte("b"))
	if err := s.Delete(ctx, "del/b"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantList(t, ctx, s, "del/", nil)
	// The key can be written again after its directory emptied.
	put(t, ctx, s, "del/b", []byte("again"))
	wantContent(t, ctx, s, "del/b", []byte("again"))
}

// testLink checks the backup.Linker contract for stores that offer it (both backends do).
func testLink(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	l, ok := backup.AsLinker(s)
	if !ok {
		t.Skipf("%s does not implement backup.Linker", s)
	}
	put(t, ctx, s, "exports/p/member-1.zip", []byte("zip"))
	raw, err := l.Link(ctx, "exports/p/member-1.zip", time.Hour)
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if u, err := url.Parse(raw); err != nil || u.Scheme == "" || !strings.Contains(u.Path, "member-1.zip") {
		t.Fatalf("Link = %q (%v); want an absolute URL naming the object", raw, err)
	}
	if _, err := l.Link(ctx, "a/../b", time.Hour); !errors.Is(err, backup.ErrInvalidKey) {
		t.Fatalf("Link(invalid key): %v; want an error wrapping ErrInvalidKey", err)
	}
	if _, err := l.Link(ctx, "exports/p/member-1.zip", 0); err == nil {
		t.Fatal("Link with ttl 0: no error")
	}
	if max := l.MaxLinkTTL(); max > 0 {
		if _, err := l.Link(ctx, "exports/p/member-1.zip", max+time.Second); err == nil {
			t.Fatalf("Link with ttl above MaxLinkTTL %s: no error", max)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Link(cctx, "exports/p/member-1.zip", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Link with a cancelled context: %v; want context.Canceled", err)
	}
}

func testInvalidKeys(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	bad := []string{"", "/", "/abs", "trailing/", "a//b", ".", "..", "./a", "a/.", "a/../b", "../up",
		`back\slash`, "nul\x00byte", "new\nline", "del\x7f"}
	for _, k := range bad {
		if _, err := s.Put(ctx, k, strings.NewReader("x")); !errors.Is(err, backup.ErrInvalidKey) {
			t.Fatalf("Put(%q): %v; want an error wrapping ErrInvalidKey", k, err)
		}
		if rc, err := s.Open(ctx, k); !errors.Is(err, backup.ErrInvalidKey) {
			if rc != nil {
				rc.Close()
			}
			t.Fatalf("Open(%q): %v; want an error wrapping ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, backup.ErrInvalidKey) {
			t.Fatalf("Stat(%q): %v; want an error wrapping ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, backup.ErrInvalidKey) {
			t.Fatalf("Delete(%q): %v; want an error wrapping ErrInvalidKey", k, err)
		}
	}
	wantList(t, ctx, s, "", nil)
}

var errBoom = errors.New("storetest: reader failed on purpose")

// failingReader fails every Read.
type failingReader struct{}

// newFailingReader yields the first n bytes of b, then fails.
func newFailingReader(b []byte, n int) io.Reader {
	return io.MultiReader(newSlowReader(b[:n]), failingReader{})
}

func (failingReader) Read([]byte) (int, error) { return 0, errBoom }

func testReaderError(t *testing.T, ctx context.Context, s backup.Store, o Options) {
	for _, c := range []struct {
		name   string
		size   int
		failAt int
	}{
		{"immediately", 1000, 0},
		{"small", 1000, 500},
		{"big", o.BigSize, o.BigSize * 3 / 4}, // after several multipart parts
	} {
		key := "fail/" + c.name
		_, err := s.Put(ctx, key, newFailingReader(data(20, c.size), c.failAt))
		if err == nil {
			t.Fatalf("Put(%q) with a reader failing after %d bytes succeeded", key, c.failAt)
		}
		if !errors.Is(err, errBoom) {
			t.Fatalf("Put(%q) with a failing reader: %v; want an error wrapping the reader's", key, err)
		}
		wantMissing(t, ctx, s, key)
	}
	wantList(t, ctx, s, "", nil)
	// A failed overwrite keeps the previous object.
	prev := data(21, 5000)
	put(t, ctx, s, "fail/keep", prev)
	if _, err := s.Put(ctx, "fail/keep", newFailingReader(data(22, 10000), 9000)); !errors.Is(err, errBoom) {
		t.Fatalf("failing overwrite: %v; want an error wrapping the reader's", err)
	}
	wantContent(t, ctx, s, "fail/keep", prev)
	wantList(t, ctx, s, "", []string{"fail/keep"})
}

func testCancelDuringPut(t *testing.T, ctx context.Context, s backup.Store, o Options) {
	for _, c := range []struct {
		name       string
		size, at   int
		afterwards time.Duration // how long the reader keeps feeding after cancel
	}{
		{"small", 2000, 1000, 0},
		{"big", o.BigSize, o.BigSize / 2, 0},
		{"big-slow-cancel", o.BigSize, o.BigSize * 3 / 4, 50 * time.Millisecond},
	} {
		key := "cancel/" + c.name
		pctx, cancel := context.WithCancel(ctx)
		r := newSlowReader(data(30, c.size))
		r.at, r.after = c.at, func() {
			cancel()
			time.Sleep(c.afterwards)
		}
		done := make(chan struct{})
		var err error
		go func() {
			defer close(done)
			_, err = s.Put(pctx, key, r)
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("Put(%q) did not return within a minute of its ctx being cancelled", key)
		}
		cancel()
		if err == nil {
			t.Fatalf("Put(%q) whose ctx was cancelled after %d bytes succeeded", key, c.at)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put(%q) with a cancelled ctx: %v; want an error wrapping context.Canceled", key, err)
		}
		wantMissing(t, ctx, s, key)
	}
	wantList(t, ctx, s, "", nil)
}

func testCancelledContext(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	put(t, ctx, s, "c/x", []byte("x"))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s with a cancelled ctx: %v; want an error wrapping context.Canceled", op, err)
		}
	}
	_, err := s.Put(cctx, "c/y", strings.NewReader("y"))
	check("Put", err)
	rc, err := s.Open(cctx, "c/x")
	if rc != nil {
		rc.Close()
	}
	check("Open", err)
	_, err = s.Stat(cctx, "c/x")
	check("Stat", err)
	_, err = s.List(cctx, "")
	check("List", err)
	check("Delete", s.Delete(cctx, "c/x"))
	wantMissing(t, ctx, s, "c/y")
	wantContent(t, ctx, s, "c/x", []byte("x"))
}

// testAtomicVisibility pauses an overwrite halfway and checks that readers still see the
// whole previous object, then the whole new one.
func testAtomicVisibility(t *testing.T, ctx context.Context, s backup.Store, o Options) {
	const key = "atomic/obj"
	v1, v2 := data(40, 3<<20), data(41, o.BigSize)
	put(t, ctx, s, key, v1)

	paused, resume := make(chan struct{}), make(chan struct{})
	r := newSlowReader(v2)
	r.at, r.after = len(v2)*3/4, func() { close(paused); <-resume }
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Go(func() { _, err = s.Put(ctx, key, r) })
	select {
	case <-paused:
	case <-time.After(time.Minute):
		t.Fatal("Put did not read 3/4 of its input within a minute")
	}
	func() {
		defer close(resume)
		wantContent(t, ctx, s, key, v1)
		list := wantList(t, ctx, s, "atomic/", []string{key})
		if list[0].Size != int64(len(v1)) {
			t.Fatalf("List during an overwrite: size %d, want the previous %d", list[0].Size, len(v1))
		}
	}()
	wg.Wait()
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	wantContent(t, ctx, s, key, v2)
	wantList(t, ctx, s, "atomic/", []string{key})

	// A new key stays invisible until complete.
	paused, resume = make(chan struct{}), make(chan struct{})
	r = newSlowReader(v1)
	r.at, r.after = len(v1)/2, func() { close(paused); <-resume }
	wg.Go(func() { _, err = s.Put(ctx, "atomic/new", r) })
	select {
	case <-paused:
	case <-time.After(time.Minute):
		t.Fatal("Put did not read half its input within a minute")
	}
	func() {
		defer close(resume)
		wantMissing(t, ctx, s, "atomic/new")
	}()
	wg.Wait()
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	wantContent(t, ctx, s, "atomic/new", v1)
}

func testConcurrentPuts(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	const n = 16
	objs := make([][]byte, n)
	var g errgroup.Group
	for i := range n {
		objs[i] = data(uint64(100+i), 64<<10+i*4099)
		g.Go(func() error {
			info, err := s.Put(ctx, fmt.Sprintf("conc/%02d/obj", i), newSlowReader(objs[i]))
			if err == nil && info.Size != int64(len(objs[i])) {
				err = fmt.Errorf("put returned size %d, want %d", info.Size, len(objs[i]))
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("concurrent Put: %v", err)
	}
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("conc/%02d/obj", i)
		wantContent(t, ctx, s, want[i], objs[i])
	}
	wantList(t, ctx, s, "conc/", want)
}

// testConcurrentDeletes deletes sibling keys in parallel (forget removes a snapshot's
// objects that way): every Delete succeeds and nothing is left, although the backend
// may remove the emptied "directory" under another Delete's feet.
func testConcurrentDeletes(t *testing.T, ctx context.Context, s backup.Store, _ Options) {
	for round := range 3 {
		const n = 24
		for i := range n {
			put(t, ctx, s, fmt.Sprintf("cdel/%d/d/%02d", round, i), []byte{byte(i)})
		}
		var g errgroup.Group
		for i := range n {
			g.Go(func() error { return s.Delete(ctx, fmt.Sprintf("cdel/%d/d/%02d", round, i)) })
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("round %d: concurrent Delete: %v", round, err)
		}
		wantList(t, ctx, s, "cdel/", nil)
	}
}
