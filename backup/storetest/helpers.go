package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
)

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
