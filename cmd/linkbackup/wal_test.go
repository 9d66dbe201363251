package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestWALArchiveOnRealPostgres: a private PostgreSQL 15 archives through the built
// binary (archive_command = linkbackup wal-push, encrypted and signed); after a switch
// the segment is in the store, pg_stat_archiver counts no failure, and wal-fetch
// (restore_command's side) brings it back checked; a name not archived exits 1, a
// tampered object exits 254 (PostgreSQL stops recovery instead of promoting early).
func TestWALArchiveOnRealPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	base, err := os.MkdirTemp("", "lbwal-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	bin := filepath.Join(base, "linkbackup")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	keys := filepath.Join(base, "keys")
	if _, _, code := run(t, "keygen", "--out", keys); code != 0 {
		t.Fatal("keygen")
	}
	storeDir := filepath.Join(base, "store")
	os.Mkdir(storeDir, 0o700)
	for _, p := range []string{keys, storeDir, filepath.Join(keys, "signing.key"), filepath.Join(keys, "age.pub")} {
		pg.Owner(t, p)
	}
	store := "file://" + storeDir
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	cmd := bin + " wal-push %p --store " + store + " --recipients-file " + filepath.Join(keys, "age.pub") +
		" --signing-key " + filepath.Join(keys, "signing.key")
	for _, sql := range []string{"ALTER SYSTEM SET archive_mode = on", "ALTER SYSTEM SET archive_command = '" + cmd + "'"} {
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(ctx)
	pg.Restart(t)
	if c, err = pgx.Connect(ctx, pg.DSN); err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var seg string
	if _, err := c.Exec(ctx, `CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g`); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&seg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT pg_switch_wal()"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var archived, failed int64
		var last *string
		if err := c.QueryRow(ctx, `SELECT archived_count, failed_count, last_archived_wal FROM pg_stat_archiver`).Scan(&archived, &failed, &last); err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			t.Fatalf("archive_command failed %d times; server log:\n%s", failed, pg.Log())
		}
		if last != nil && *last >= seg {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived after 30 s (archived %d); server log:\n%s", seg, archived, pg.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	ident, verify := filepath.Join(keys, "age.key"), filepath.Join(keys, "signing.pub")
	if _, errs, code := run(t, "wal-fetch", seg, out, "--store", store, "--identity", ident, "--verify-key", verify); code != 0 {
		t.Fatalf("wal-fetch %s: exit %d\n%s", seg, code, errs)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != 16<<20 {
		t.Fatalf("fetched segment: %v, %v", fi, err)
	}
	if _, errs, code := run(t, "wal-fetch", "0000000100000000000000FF", out, "--store", store, "--identity", ident, "--verify-key", verify); code != 1 || !strings.Contains(errs, "not in the WAL archive") {
		t.Fatalf("missing segment: exit %d\n%s", code, errs)
	}
	// A base backup of the same cluster: encrypted, signed, with its WAL points.
	out2, errs, code := run(t, "basebackup", "--source", pg.DSN, "--store", store, "--recipients-file", filepath.Join(keys, "age.pub"),
		"--signing-key", filepath.Join(keys, "signing.key"))
	if code != 0 {
		t.Fatalf("basebackup: exit %d\n%s\n%s", code, out2, errs)
	}
	id := strings.TrimSpace(out2)
	b, err := os.ReadFile(filepath.Join(storeDir, "base", id, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bm struct {
		StartLSN string `json:"start_lsn"`
		StopLSN  string `json:"stop_lsn"`
		Timeline int    `json:"timeline"`
		Tar      struct {
			Enc  string `json:"enc"`
			Size int64  `json:"size"`
		} `json:"tar"`
		SignedBy string `json:"signed_by"`
	}
	if err := json.Unmarshal(b, &bm); err != nil || bm.StartLSN == "" || bm.StopLSN == "" || bm.Timeline != 1 || bm.Tar.Enc != "age" || bm.Tar.Size == 0 || bm.SignedBy == "" {
		t.Fatalf("base manifest %+v (%v):\n%s", bm, err, b)
	}
	if _, err := os.Stat(filepath.Join(storeDir, "base", id, "manifest.sig")); err != nil {
		t.Fatal(err)
	}

	obj := filepath.Join(storeDir, "wal", seg[:8], seg+".zst")
	if err := os.WriteFile(obj, []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := run(t, "wal-fetch", seg, out, "--store", store, "--identity", ident, "--verify-key", verify); code != exitWALAbort {
		t.Fatalf("tampered segment: exit %d, want %d\n%s", code, exitWALAbort, errs)
	}
}
