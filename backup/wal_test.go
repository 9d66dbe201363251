package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

// segment writes a fake 1 MiB WAL file named name into a fresh directory.
func segment(t *testing.T, name string) (string, []byte) {
	t.Helper()
	b := make([]byte, 1<<20)
	rand.Read(b[:4096]) // mostly zeros, as a young segment is
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// TestWALPushFetch: a pushed segment comes back byte for byte, encrypted in the store;
// a second push of the same content succeeds, of other content fails; a missing file is
// ErrWALNotFound; a tampered object, a forged record and an unsigned record (with verify
// keys) are refused; a push killed between object and record leaves nothing listed and
// the retry completes it; history and backup files go to their places.
func TestWALPushFetch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := fileStore(t)
	write, read, _ := testKeys(t)
	const name = "000000010000000000000003"
	path, want := segment(t, name)
	rec, err := backup.PushWAL(ctx, st, path, write)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Object.Enc != backup.EncryptionAge || rec.Signature == "" || !strings.HasPrefix(rec.Object.Key, "wal/00000001/") {
		t.Fatalf("record %+v", rec)
	}
	if storeHolds(t, st, string(want[:4096])) {
		t.Fatal("the segment is stored in plain text")
	}
	if _, err := backup.PushWAL(ctx, st, path, write); err != nil {
		t.Fatalf("second push of the same segment: %v", err)
	}
	out := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if _, err := backup.FetchWAL(ctx, st, name, out, read); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Fatal("fetched segment differs")
	}

	// Same name, other content: refused, the archive keeps its copy.
	other, _ := segment(t, name)
	if _, err := backup.PushWAL(ctx, st, other, write); !errors.Is(err, backup.ErrWALConflict) {
		t.Fatalf("conflicting push: %v", err)
	}
	if _, err := backup.FetchWAL(ctx, st, "000000010000000000000009", out, read); !errors.Is(err, backup.ErrWALNotFound) {
		t.Fatalf("missing segment: %v", err)
	}

	// Tamper with the stored object: refused, the target path untouched.
	os.Remove(out)
	if _, err := st.Put(ctx, rec.Object.Key, bytes.NewReader([]byte("forged"))); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.FetchWAL(ctx, st, name, out, read); err == nil || errors.Is(err, backup.ErrWALNotFound) {
		t.Fatalf("tampered segment: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a tampered segment was written to the target path")
	}

	// An unsigned push (no signing key) is refused by a reader with verify keys.
	p2, _ := segment(t, "000000010000000000000004")
	if _, err := backup.PushWAL(ctx, st, p2, &backup.Keys{Recipients: write.Recipients}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.FetchWAL(ctx, st, "000000010000000000000004", out, read); !errors.Is(err, backup.ErrUnauthenticated) {
		t.Fatalf("unsigned segment with verify keys: %v", err)
	}

	// Killed between object and record: nothing listed; the retry completes.
	p3, want3 := segment(t, "000000010000000000000005")
	ks := &killAfterObject{Store: st}
	if _, err := backup.PushWAL(ctx, ks, p3, write); err == nil {
		t.Fatal("push through a store that dies after the object succeeded")
	}
	if _, err := backup.FetchWAL(ctx, st, "000000010000000000000005", out, read); !errors.Is(err, backup.ErrWALNotFound) {
		t.Fatalf("half-pushed segment is visible: %v", err)
	}
	if _, err := backup.PushWAL(ctx, st, p3, write); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.FetchWAL(ctx, st, "000000010000000000000005", out, read); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want3) {
		t.Fatal("retried segment differs")
	}

	// Timeline history and backup history files have their places; other names are refused.
	for name, prefix := range map[string]string{"00000002.history": "wal/history/", "000000010000000000000003.00000028.backup": "wal/00000001/"} {
		p, _ := segment(t, name)
		r, err := backup.PushWAL(ctx, st, p, write)
		if err != nil || !strings.HasPrefix(r.Object.Key, prefix) {
			t.Fatalf("%s: %+v, %v", name, r, err)
		}
	}
	bad, _ := segment(t, "postgresql.conf")
	if _, err := backup.PushWAL(ctx, st, bad, write); err == nil {
		t.Fatal("pushed a file that is not WAL")
	}
}

// killAfterObject is a store whose writer dies after storing a WAL object, before its record.
type killAfterObject struct{ backup.Store }

func (k *killAfterObject) Put(ctx context.Context, key string, r io.Reader) (backup.ObjectInfo, error) {
	if strings.HasSuffix(key, ".json") {
		return backup.ObjectInfo{}, errors.New("killed")
	}
	return k.Store.Put(ctx, key, r)
}

// countLists counts the store's List calls under wal/.
type countLists struct {
	backup.Store
	mu  sync.Mutex
	wal int
}

func (c *countLists) List(ctx context.Context, prefix string) ([]backup.ObjectInfo, error) {
	if strings.HasPrefix(prefix, backup.WALPrefix) {
		c.mu.Lock()
		c.wal++
		c.mu.Unlock()
	}
	return c.Store.List(ctx, prefix)
}

// TestStatusListsWALOnce: status finds the newest segment and the gap after the base
// backup's start from one listing of wal/ (before, it listed it twice), and a segment of
// another timeline neither fills the gap nor hides it.
func TestStatusListsWALOnce(t *testing.T) {
	ctx := context.Background()
	fs := fileStore(t)
	for _, name := range []string{"000000010000000000000003", "000000010000000000000005", "000000020000000000000004"} {
		p, _ := segment(t, name)
		if _, err := backup.PushWAL(ctx, fs, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().Add(-time.Hour)
	b, _ := json.Marshal(backup.BaseManifest{ID: at.UTC().Format(backup.IDFormat), Started: at, Finished: at.Add(time.Minute), StartLSN: "0/3000028", Timeline: 1})
	if _, err := fs.Put(ctx, backup.BasePrefix+at.UTC().Format(backup.IDFormat)+"/manifest.json", bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	st := &countLists{Store: fs}
	f := backup.GatherStatus(ctx, backup.StatusOptions{Store: st})
	if f.WALErr != nil || f.WALNewest == nil || f.BaseBackups != 1 {
		t.Fatalf("facts: wal err %v, newest %v, base backups %d", f.WALErr, f.WALNewest, f.BaseBackups)
	}
	if len(f.WALMissing) != 1 || f.WALMissing[0].Name != "000000010000000000000004" {
		t.Fatalf("missing %+v, want 000000010000000000000004 only", f.WALMissing)
	}
	if st.wal != 1 {
		t.Fatalf("status listed wal/ %d times, want once", st.wal)
	}
}
