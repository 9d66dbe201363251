package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
)

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
