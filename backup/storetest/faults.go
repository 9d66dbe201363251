package storetest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

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
