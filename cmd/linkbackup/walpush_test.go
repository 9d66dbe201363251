package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
)

// setArchiveCommand points the running server's archive_command at args (after
// "wal-push %p") and reloads it.
func (w *archiving) setArchiveCommand(t *testing.T, c *pgx.Conn, args string) {
	t.Helper()
	ctx := context.Background()
	cmd := w.bin + " wal-push %p " + args
	if _, err := c.Exec(ctx, "ALTER SYSTEM SET archive_command = '"+cmd+"'"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the archiver rereads its configuration on the SIGHUP
}

func (w *archiving) keyArgs() string {
	return "--recipients-file " + filepath.Join(w.keys, "age.pub") + " --signing-key " + filepath.Join(w.keys, "signing.key")
}

// waitArchived waits until pg_stat_archiver's last archived file is at least seg; with
// noFailures, a failed archive_command fails the test at once.
func (w *archiving) waitArchived(t *testing.T, c *pgx.Conn, seg string, noFailures bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var failed int64
		var last *string
		if err := c.QueryRow(context.Background(), `SELECT failed_count, last_archived_wal FROM pg_stat_archiver`).Scan(&failed, &last); err != nil {
			t.Fatal(err)
		}
		if noFailures && failed > 0 {
			t.Fatalf("archive_command failed %d times; server log:\n%s", failed, w.pg.Log())
		}
		if last != nil && *last >= seg {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not archived after 60 s (last %v); server log:\n%s", seg, last, w.pg.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// burst writes rows and switches segments n times; it returns the first and the last
// segment closed.
func burst(t *testing.T, c *pgx.Conn, n int) (string, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS burst (id bigserial PRIMARY KEY, url text, note text)`); err != nil {
		t.Fatal(err)
	}
	var first, last string
	for i := range n {
		if _, err := c.Exec(ctx, `INSERT INTO burst (url, note) SELECT 'https://example.test/' || g || '/' || md5(g::text), repeat(md5(random()::text), 4)
			FROM generate_series(1, 3000) g`); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = last
		}
		if _, err := c.Exec(ctx, "SELECT pg_switch_wal()"); err != nil {
			t.Fatal(err)
		}
	}
	return first, last
}

func dataDir(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var d string
	if err := c.QueryRow(context.Background(), "SHOW data_directory").Scan(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestWALPushParallelBurst: a burst of 12 segment switches on a real PostgreSQL 15,
// then archive_command = wal-push --parallel 4 (encrypted, signed): the backlog is
// archived without a failure and without a gap; some calls push ahead, and PostgreSQL's calls for those
// files return early; no marker is left once everything is archived; every segment
// fetches back checked.
func TestWALPushParallelBurst(t *testing.T) {
	w := startArchiving(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, w.pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// The burst is written while archiving waits (an empty archive_command keeps every
	// segment ready), so that the archiver finds a backlog however fast this machine is.
	if _, err := c.Exec(ctx, "ALTER SYSTEM SET archive_command = ''"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	first, last := burst(t, c, 12)
	w.setArchiveCommand(t, c, "--store "+w.store+" "+w.keyArgs()+" --parallel 4 --log-level debug --log-format text")
	w.waitArchived(t, c, last, true)

	st, err := file.New(w.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := backup.CheckWAL(ctx, st, first)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Missing) != 0 || a.Newest < last {
		t.Fatalf("archive after the burst: newest %s (want >= %s), missing %v", a.Newest, last, a.Missing)
	}
	log := w.pg.Log()
	if !strings.Contains(log, "pushed ahead") || !strings.Contains(log, "pushed_earlier=true") {
		t.Fatalf("no push ahead or no early return in the server log:\n%s", log)
	}
	spool := filepath.Join(dataDir(t, c), backup.DefaultWALSpool)
	ents, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pushed") || strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("spool still holds %s after everything was archived", e.Name())
		}
	}
	out := filepath.Join(t.TempDir(), "seg")
	for seg := first; seg <= last; seg = nextSegment(seg) {
		if _, errs, code := run(t, "wal-fetch", seg, out, "--store", w.store, "--identity", w.ident, "--verify-key", w.verify); code != 0 {
			t.Fatalf("wal-fetch %s: exit %d\n%s", seg, code, errs)
		}
	}
}

func nextSegment(seg string) string {
	var log, n uint64
	fmt.Sscanf(seg[8:16], "%X", &log)
	fmt.Sscanf(seg[16:24], "%X", &n)
	n++
	if n == 0x100 {
		log, n = log+1, 0
	}
	return fmt.Sprintf("%s%08X%08X", seg[:8], log, n)
}

// TestWALPushFailingStoreKeepsSegment: with a store the server cannot write to,
// wal-push (parallel) exits non-zero, PostgreSQL counts the failure and keeps the
// segment ready; once the store works, the same segment is archived.
func TestWALPushFailingStoreKeepsSegment(t *testing.T) {
	w := startArchiving(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, w.pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	ro := filepath.Join(filepath.Dir(w.storeDir), "readonly")
	if err := os.Mkdir(ro, 0o555); err != nil { // root's; the server's user cannot write
		t.Fatal(err)
	}
	w.setArchiveCommand(t, c, "--store file://"+ro+" "+w.keyArgs()+" --parallel 3")
	var before *string
	c.QueryRow(ctx, `SELECT last_archived_wal FROM pg_stat_archiver`).Scan(&before)
	first, seg := burst(t, c, 2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var failed int64
		if err := c.QueryRow(ctx, `SELECT failed_count FROM pg_stat_archiver`).Scan(&failed); err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wal-push into a read-only store never failed; server log:\n%s", w.pg.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var last *string
	c.QueryRow(ctx, `SELECT last_archived_wal FROM pg_stat_archiver`).Scan(&last)
	if last != nil && *last >= first {
		t.Fatalf("last archived %s although the store fails", *last)
	}
	dd := dataDir(t, c)
	for _, s := range []string{first, seg} {
		if _, err := os.Stat(filepath.Join(dd, "pg_wal", "archive_status", s+".ready")); err != nil {
			t.Fatalf("PostgreSQL no longer keeps %s ready: %v", s, err)
		}
	}
	if ents, _ := os.ReadDir(ro); len(ents) != 0 {
		t.Fatalf("read-only store has %d entries", len(ents))
	}
	w.setArchiveCommand(t, c, "--store "+w.store+" "+w.keyArgs()+" --parallel 3")
	_, next := burst(t, c, 1) // a new segment wakes the archiver
	w.waitArchived(t, c, next, false)
	st, err := file.New(w.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := backup.CheckWAL(ctx, st, first)
	if err != nil || len(a.Missing) != 0 || a.Newest < next {
		t.Fatalf("after the store recovered: %+v, %v", a, err)
	}
}

// TestWALPushKilledLeavesNothingHalfVisible: wal-push --parallel 4 SIGKILLed at
// several moments of pushing four 16 MiB files: every marker left names a file whose
// record and object are in the store and fetch back intact, and every record in the
// store is whole; the next run completes, and the calls for the files it pushed ahead
// return early.
func TestWALPushKilledLeavesNothingHalfVisible(t *testing.T) {
	base := t.TempDir()
	bin := filepath.Join(base, "linkbackup")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(base, "data")
	wal := filepath.Join(data, "pg_wal")
	os.MkdirAll(filepath.Join(wal, "archive_status"), 0o700)
	var segs []string
	for i := range 4 {
		seg := fmt.Sprintf("0000000100000000000000%02X", 16+i)
		b := make([]byte, 16<<20)
		rand.Read(b[:4<<20]) // part incompressible, part zeros, like a real segment's tail
		if err := os.WriteFile(filepath.Join(wal, seg), b, 0o600); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(wal, "archive_status", seg+".ready"), nil, 0o600)
		segs = append(segs, seg)
	}
	storeDir := filepath.Join(base, "store")
	os.Mkdir(storeDir, 0o700)
	st, err := file.New(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	push := func(seg string) *exec.Cmd {
		cmd := exec.Command(bin, "wal-push", "pg_wal/"+seg, "--store", "file://"+storeDir, "--parallel", "4",
			"--log-level", "debug", "--log-format", "text")
		cmd.Dir = data
		return cmd
	}
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		spool := filepath.Join(data, backup.DefaultWALSpool)
		ents, _ := os.ReadDir(spool)
		for _, e := range ents {
			seg, ok := strings.CutSuffix(e.Name(), ".pushed")
			if !ok {
				continue
			}
			var m struct {
				RawSHA256 string `json:"raw_sha256"`
			}
			b, _ := os.ReadFile(filepath.Join(spool, e.Name()))
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: marker %s unreadable: %v", when, e.Name(), err)
			}
			rec, err := backup.FetchWAL(ctx, st, seg, filepath.Join(base, "fetched"), nil)
			if err != nil || rec.RawSHA256 != m.RawSHA256 {
				t.Fatalf("%s: marker for %s, but the store has %+v, %v", when, seg, rec, err)
			}
		}
		for _, seg := range segs {
			if _, err := os.Stat(filepath.Join(storeDir, "wal", "00000001", seg+".json")); err != nil {
				continue // not recorded: invisible, whatever object bytes lie there
			}
			if _, err := backup.FetchWAL(ctx, st, seg, filepath.Join(base, "fetched"), nil); err != nil {
				t.Fatalf("%s: %s has a record but does not fetch: %v", when, seg, err)
			}
		}
	}
	for _, d := range []time.Duration{5, 30, 80, 200, 500} {
		cmd := push(segs[0])
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		check(fmt.Sprintf("killed after %d ms", d))
	}
	var errb bytes.Buffer
	cmd := push(segs[0])
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("push after the kills: %v\n%s", err, errb.String())
	}
	check("after a complete run")
	os.Rename(filepath.Join(wal, "archive_status", segs[0]+".ready"), filepath.Join(wal, "archive_status", segs[0]+".done"))
	for _, seg := range segs[1:] {
		errb.Reset()
		cmd := push(seg)
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("push %s: %v\n%s", seg, err, errb.String())
		}
		if !strings.Contains(errb.String(), "pushed_earlier=true") {
			t.Fatalf("push %s after it was pushed ahead did not return early:\n%s", seg, errb.String())
		}
		os.Rename(filepath.Join(wal, "archive_status", seg+".ready"), filepath.Join(wal, "archive_status", seg+".done"))
	}
}
