package backup_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
)

// fakePGWAL makes a data directory with pg_wal holding the named files (random
// content) and a .ready status file for each; it returns pg_wal's path.
func fakePGWAL(t *testing.T, names ...string) string {
	t.Helper()
	wal := filepath.Join(t.TempDir(), "data", "pg_wal")
	if err := os.MkdirAll(filepath.Join(wal, "archive_status"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b := make([]byte, 256<<10)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(wal, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wal, "archive_status", n+".ready"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return wal
}

// TestPushReadyWALAheadAndEarly: a push with Parallel 3 stores the asked file and the
// two oldest other ready ones (history file first) and leaves markers; asking for one
// of those returns early without uploading and consumes its marker; a marker whose
// record is gone from the store, or whose file changed, is not trusted: the file is
// pushed again.
func TestPushReadyWALAheadAndEarly(t *testing.T) {
	segs := []string{"000000010000000000000003", "000000010000000000000004", "000000010000000000000005", "000000010000000000000006"}
	wal := fakePGWAL(t, append(slices.Clone(segs), "00000002.history")...)
	st := fileStore(t)
	ctx := context.Background()
	k := &backup.Keys{}
	o := backup.WALPushOptions{Parallel: 3}
	spool := filepath.Join(filepath.Dir(wal), backup.DefaultWALSpool)

	r, err := backup.PushReadyWAL(ctx, st, filepath.Join(wal, segs[0]), k, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Early || !slices.Equal(r.Ahead, []string{"00000002.history", segs[1]}) || len(r.AheadFailed) != 0 {
		t.Fatalf("first push: %+v", r)
	}
	for _, n := range r.Ahead {
		if _, err := os.Stat(filepath.Join(spool, n+".pushed")); err != nil {
			t.Fatalf("no marker for %s: %v", n, err)
		}
		if _, err := backup.FetchWAL(ctx, st, n, filepath.Join(t.TempDir(), "x"), k); err != nil {
			t.Fatalf("%s pushed ahead but not fetchable: %v", n, err)
		}
	}
	// PostgreSQL marks the first done, and asks for the next one (the history file).
	os.Rename(filepath.Join(wal, "archive_status", segs[0]+".ready"), filepath.Join(wal, "archive_status", segs[0]+".done"))
	r, err = backup.PushReadyWAL(ctx, st, filepath.Join(wal, "00000002.history"), k, o)
	if err != nil || !r.Early || len(r.Ahead) != 0 {
		t.Fatalf("history file: %+v, %v; want an early return", r, err)
	}
	if _, err := os.Stat(filepath.Join(spool, "00000002.history.pushed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker not consumed: %v", err)
	}
	os.Rename(filepath.Join(wal, "archive_status", "00000002.history.ready"), filepath.Join(wal, "archive_status", "00000002.history.done"))

	// segs[1]'s record vanishes from the store: its marker must not be trusted.
	if err := st.Delete(ctx, "wal/00000001/"+segs[1]+".json"); err != nil {
		t.Fatal(err)
	}
	r, err = backup.PushReadyWAL(ctx, st, filepath.Join(wal, segs[1]), k, o)
	if err != nil || r.Early {
		t.Fatalf("marker without record: %+v, %v; want a real push", r, err)
	}
	if _, err := backup.FetchWAL(ctx, st, segs[1], filepath.Join(t.TempDir(), "x"), k); err != nil {
		t.Fatalf("re-pushed %s: %v", segs[1], err)
	}
	if !slices.Equal(r.Ahead, segs[2:]) {
		t.Fatalf("second batch pushed ahead %v, want %v", r.Ahead, segs[2:])
	}
	os.Rename(filepath.Join(wal, "archive_status", segs[1]+".ready"), filepath.Join(wal, "archive_status", segs[1]+".done"))

	// segs[2] is recreated with other content after it was pushed ahead (a recycled
	// file): the marker does not match, the real push finds the conflict.
	b := make([]byte, 256<<10)
	rand.Read(b)
	os.Remove(filepath.Join(wal, segs[2]))
	if err := os.WriteFile(filepath.Join(wal, segs[2]), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.PushReadyWAL(ctx, st, filepath.Join(wal, segs[2]), k, o); !errors.Is(err, backup.ErrWALConflict) {
		t.Fatalf("changed file: %v, want ErrWALConflict", err)
	}
	// Idempotent: segs[3] was pushed ahead; pushing it without the marker (the spool
	// lost) succeeds against the same content.
	os.RemoveAll(spool)
	r, err = backup.PushReadyWAL(ctx, st, filepath.Join(wal, segs[3]), k, o)
	if err != nil || r.Early {
		t.Fatalf("same content again: %+v, %v", r, err)
	}
}

// TestPushReadyWALStoreFailure: when the store fails, the asked file's push fails and
// no marker is written for any file.
func TestPushReadyWALStoreFailure(t *testing.T) {
	segs := []string{"000000010000000000000003", "000000010000000000000004", "000000010000000000000005"}
	wal := fakePGWAL(t, segs...)
	st := &failingStore{Store: fileStore(t), match: "wal/"}
	_, err := backup.PushReadyWAL(context.Background(), st, filepath.Join(wal, segs[0]), &backup.Keys{}, backup.WALPushOptions{Parallel: 3})
	if err == nil {
		t.Fatal("push into a failing store succeeded")
	}
	ents, _ := os.ReadDir(filepath.Join(filepath.Dir(wal), backup.DefaultWALSpool))
	for _, e := range ents {
		if e.Name() != "lock" {
			t.Fatalf("spool holds %s after a failed push", e.Name())
		}
	}
}

// TestPushReadyWALOutsidePGWAL: a file pushed by hand from a directory without
// archive_status is pushed alone and no spool directory is created.
func TestPushReadyWALOutsidePGWAL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	os.MkdirAll(dir, 0o700)
	p := filepath.Join(dir, "000000010000000000000003")
	if err := os.WriteFile(p, []byte("wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := backup.PushReadyWAL(context.Background(), fileStore(t), p, &backup.Keys{}, backup.WALPushOptions{Parallel: 4})
	if err != nil || r.Early || len(r.Ahead) != 0 {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), backup.DefaultWALSpool)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool created for a file outside pg_wal: %v", err)
	}
}
