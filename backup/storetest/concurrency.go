package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"golang.org/x/sync/errgroup"
)

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
