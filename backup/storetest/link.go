package storetest

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

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
