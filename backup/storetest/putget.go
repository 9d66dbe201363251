package storetest

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

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
