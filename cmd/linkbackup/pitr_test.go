package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
)

// TestNightlyProvesPointInTimeRecovery: a private PostgreSQL 15 with wal_level = logical
// archives through the built binary; after a base backup, members keep writing while
// the nightly runs. The nightly's snapshot comes from a temporary logical slot (its
// manifest records the consistent point), and its point-in-time proof recovers the base
// backup plus the archive to exactly that point in a scratch cluster and finds every
// table equal to the snapshot: the pitr record says so, status reports "point-in-time
// recovery proven to". The identities are root's alone (0600): the recovered server,
// running as postgres, gets its WAL from the feed. Then a segment the proof needs goes
// missing: the next night's proof fails (exit 3), names the segment, and status is
// CRITICAL.
func TestNightlyProvesPointInTimeRecovery(t *testing.T) {
	w := startArchiving(t, "ALTER SYSTEM SET wal_level = logical")
	ctx := context.Background()
	admin := w.connect(t, w.pg.DSN)
	dsn, c := w.bookmarks(t, 40, 50, 7)
	w.baseBackup(t, dsn)
	// WAL after the base backup that replay must apply: new links, deleted links.
	if _, err := c.Exec(ctx, `DELETE FROM links WHERE member_id = 3`); err != nil {
		t.Fatal(err)
	}
	w.switchAndWait(t, admin)

	// The identity only root can read: a restore_command running as postgres could not.
	private := t.TempDir()
	ident := filepath.Join(private, "age.key")
	if b, err := os.ReadFile(w.ident); err != nil || os.WriteFile(ident, b, 0o600) != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(private, "nightly.yaml")
	y := fmt.Sprintf("source: %q\nstore: %q\nencryption:\n  recipients_file: %q\n  identity_files: [%q]\n"+
		"signing:\n  key_file: %q\n  verify_keys: [%q]\ndrill:\n  pitr_wait: 60s\n",
		dsn, w.store, filepath.Join(w.keys, "age.pub"), ident, filepath.Join(w.keys, "signing.key"), w.verify)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}

	// Members keep adding links while the snapshot is taken.
	var stop atomic.Bool
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wc, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer wc.Close(ctx)
		for i := 0; !stop.Load(); i++ {
			if tag, err := wc.Exec(ctx, `INSERT INTO links (member_id, folder_id, url, title, position)
				SELECT member_id, id, 'https://during.example/' || $1::int, 'during', 100000 + $1::int FROM folders WHERE member_id = 5 LIMIT 1`, i); err == nil {
				written.Add(tag.RowsAffected())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	out, errs, code := run(t, "nightly", "--config", cfg)
	stop.Store(true)
	wg.Wait()
	if code != 0 {
		t.Fatalf("nightly: exit %d\n%s\n%s\nserver log:\n%s", code, out, errs, w.pg.Log())
	}
	if written.Load() == 0 {
		t.Fatal("no link was written during the nightly")
	}
	s := summaryOf(t, out)
	if !s.PITR.Ran || !s.PITR.OK || s.PITR.Tables == 0 || s.PITR.ProvenTo == nil || s.PITR.LSN == "" {
		t.Fatalf("pitr step: %+v\n%s", s.PITR, errs)
	}
	st, err := openStore(ctx, w.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.ReadManifest(ctx, st, s.Backup.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if m.WALPoint == nil || m.WALPoint.LSN != s.PITR.LSN || m.WALPoint.Timeline != 1 {
		t.Fatalf("manifest WAL point %+v, proof lsn %s", m.WALPoint, s.PITR.LSN)
	}
	var during int64
	for _, tb := range m.Tables {
		if tb.Name == "links" {
			during = tb.Rows
		}
	}
	rec, err := backup.ReadPITR(ctx, st, "bookmarks")
	if err != nil || !rec.OK || rec.Snapshot != m.ID || rec.Tables != len(m.Tables) || len(rec.Mismatches) != 0 || rec.Rows != m.Totals.Rows {
		t.Fatalf("pitr record %+v (%v); manifest %d tables %d rows", rec, err, len(m.Tables), m.Totals.Rows)
	}
	t.Logf("proven: snapshot %s at %s, links %d rows, recovery %.1fs", m.ID, m.WALPoint.LSN, during, rec.RecoverySeconds)
	sout, serrs, _ := run(t, "status", "--store", w.store)
	if !strings.Contains(sout, "point-in-time recovery proven to") || !strings.Contains(sout, m.ID) {
		t.Fatalf("status:\n%s\n%s", sout, serrs)
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "linkbackup-walfeed-*")); len(left) > 0 {
		t.Fatalf("WAL feed spools left behind: %v", left)
	}

	vout, verrs, vcode := run(t, "verify", "--wal", "--store", w.store, "--identity", ident, "--verify-key", w.verify)
	if vcode != 0 || !strings.Contains(vout, ": OK") || strings.Contains(vout, "content not decrypted") {
		t.Fatalf("verify --wal: exit %d\n%s\n%s", vcode, vout, verrs)
	}

	// A segment the proof needs (the base backup's first) goes missing.
	bases, err := backup.ListBaseBackups(ctx, st)
	if err != nil || len(bases) != 1 {
		t.Fatalf("base backups %v %v", bases, err)
	}
	seg, _ := backup.StartSegment(bases[0].Timeline, bases[0].StartLSN)
	recFile := filepath.Join(w.storeDir, "wal", seg[:8], seg+".json")
	if err := os.Rename(recFile, recFile+".away"); err != nil {
		t.Fatal(err)
	}
	out, errs, code = run(t, "nightly", "--config", cfg)
	if code != exitPartial {
		t.Fatalf("nightly with a WAL gap: exit %d, want %d\n%s\n%s", code, exitPartial, out, errs)
	}
	s = summaryOf(t, out)
	if !s.Backup.OK || !s.PITR.Ran || s.PITR.OK || !strings.Contains(s.PITR.Error, seg) {
		t.Fatalf("pitr step with a gap: %+v", s.PITR)
	}
	sout, _, scode := run(t, "status", "--store", w.store)
	if scode != int(backup.LevelCritical) || !strings.Contains(sout, "NOT proven") || !strings.Contains(sout, "WAL archive gap") ||
		!strings.Contains(sout, "MISSING "+seg) {
		t.Fatalf("status after a failed proof: exit %d\n%s", scode, sout)
	}
	vout, _, vcode = run(t, "verify", "--wal", "--store", w.store)
	if vcode != exitError || !strings.Contains(vout, "MISSING "+seg) || !strings.Contains(vout, "content not decrypted") {
		t.Fatalf("verify --wal across a gap: exit %d\n%s", vcode, vout)
	}
	// A tampered segment (the next one) is named as broken.
	next := filepath.Join(w.storeDir, "wal", seg[:8], segAfter(t, seg)+".zst")
	if err := os.WriteFile(next, []byte("forged"), 0o600); err != nil {
		t.Fatal(err)
	}
	vout, _, vcode = run(t, "verify", "--wal", "--store", w.store, "--verify-key", w.verify)
	if vcode != exitError || !strings.Contains(vout, "BROKEN "+segAfter(t, seg)) {
		t.Fatalf("verify --wal with a tampered segment: exit %d\n%s", vcode, vout)
	}
}

// segAfter is the name of the segment after seg (same timeline).
func segAfter(t *testing.T, seg string) string {
	t.Helper()
	var tl, hi, lo uint64
	if _, err := fmt.Sscanf(seg, "%08X%08X%08X", &tl, &hi, &lo); err != nil {
		t.Fatal(err)
	}
	n := hi*0x100 + lo + 1
	return fmt.Sprintf("%08X%08X%08X", tl, n/0x100, n%0x100)
}

// TestRecoveryStopsAtATamperedSegment: with --start the WAL reaches the server through the
// feed; a segment whose stored bytes were replaced makes the feed fail on it, and the
// server aborts recovery (restore_command exit 254) instead of promoting short of the
// target: restore fails naming the segment, and no promoted server is left.
func TestRecoveryStopsAtATamperedSegment(t *testing.T) {
	w := startArchiving(t)
	ctx := context.Background()
	c := w.connect(t, w.pg.DSN)
	if _, err := c.Exec(ctx, `CREATE TABLE links (id int PRIMARY KEY, url text)`); err != nil {
		t.Fatal(err)
	}
	w.baseBackup(t, w.pg.DSN)
	var segs []string
	for i := range 3 {
		if _, err := c.Exec(ctx, `INSERT INTO links SELECT g, 'https://x.example/' || g FROM generate_series($1::int, $1::int + 99) g`, i*100); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, w.switchAndWait(t, c))
	}
	bad := segs[1]
	if err := os.WriteFile(filepath.Join(w.storeDir, "wal", bad[:8], bad+".zst"), []byte("replaced"), 0o600); err != nil {
		t.Fatal(err)
	}
	pgdata := filepath.Join(filepath.Dir(w.storeDir), "recovered")
	os.Mkdir(pgdata, 0o700)
	w.pg.Owner(t, pgdata)
	port, err := backup.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	old := selfBinary
	selfBinary = func() (string, error) { return w.bin, nil }
	defer func() { selfBinary = old }()
	out, errs, code := run(t, "restore", "--to-latest", "--pgdata", pgdata, "--start", "--port", fmt.Sprint(port),
		"--store", w.store, "--identity", w.ident, "--verify-key", w.verify)
	t.Cleanup(func() { backup.StopRecovered(pgdata) })
	if code == 0 || strings.Contains(out, "recovered and promoted") || !strings.Contains(errs, bad) {
		log, _ := os.ReadFile(filepath.Join(pgdata, "recovery.log"))
		t.Fatalf("recovery across a tampered segment: exit %d\n%s\n%s\n%s", code, out, errs, log)
	}
	if _, err := os.Stat(filepath.Join(pgdata, "postmaster.pid")); err == nil {
		t.Fatal("a server is still running on the recovered directory")
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "linkbackup-walfeed-*")); len(left) > 0 {
		t.Fatalf("WAL feed spools left behind: %v", left)
	}
}
