package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"golang.org/x/sync/errgroup"
)

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
