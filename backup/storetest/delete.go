package storetest

import (
	"context"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
)

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
