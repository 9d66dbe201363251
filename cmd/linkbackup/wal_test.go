package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestWALArchiveOnRealPostgres: a private PostgreSQL 15 archives through the built
// binary (archive_command = linkbackup wal-push, encrypted and signed); after a switch
// the segment is in the store, pg_stat_archiver counts no failure, and wal-fetch
// (restore_command's side) brings it back checked; a name not archived exits 1, a
// tampered object exits 254 (PostgreSQL stops recovery instead of promoting early).
// archiving is a private PostgreSQL 15 whose archive_command is the built binary's
// wal-push into a file store, encrypted and signed with keys from keygen.
type archiving struct {
	pg                   *testenv.Postgres
	bin, keys, storeDir  string
	store, ident, verify string
}

func startArchiving(t *testing.T, settings ...string) *archiving {
	t.Helper()
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
	for _, name := range []string{"", "signing.key", "age.pub", "age.key", "signing.pub"} {
		pg.Owner(t, filepath.Join(keys, name))
	}
	pg.Owner(t, storeDir)
	w := &archiving{pg: pg, bin: bin, keys: keys, storeDir: storeDir, store: "file://" + storeDir,
		ident: filepath.Join(keys, "age.key"), verify: filepath.Join(keys, "signing.pub")}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	cmd := bin + " wal-push %p --store " + w.store + " --recipients-file " + filepath.Join(keys, "age.pub") +
		" --signing-key " + filepath.Join(keys, "signing.key")
	for _, sql := range append([]string{"ALTER SYSTEM SET archive_mode = on", "ALTER SYSTEM SET archive_command = '" + cmd + "'"}, settings...) {
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(ctx)
	pg.Restart(t)
	return w
}

// connect opens a session to dsn, closed when the test ends.
func (w *archiving) connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// bookmarks creates database bookmarks on the archiving cluster with the reference
// schema and generated data, and returns its DSN and a session to it.
func (w *archiving) bookmarks(t *testing.T, members, links int, seed int64) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.connect(t, w.pg.DSN).Exec(ctx, "CREATE DATABASE bookmarks"); err != nil {
		t.Fatal(err)
	}
	dsn := testenv.WithDatabase(t, w.pg.DSN, "bookmarks")
	c := w.connect(t, dsn)
	if err := bookmarkgen.LoadSchema(ctx, c); err != nil {
		t.Fatal(err)
	}
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember, o.Seed = members, links, seed
	if _, err := bookmarkgen.Generate(ctx, c, o); err != nil {
		t.Fatal(err)
	}
	return dsn, c
}

// baseBackup runs linkbackup basebackup of source into the archive's store, encrypted
// and signed, and returns its output.
func (w *archiving) baseBackup(t *testing.T, source string) string {
	t.Helper()
	out, errs, code := run(t, "basebackup", "--source", source, "--store", w.store, "--recipients-file", filepath.Join(w.keys, "age.pub"),
		"--signing-key", filepath.Join(w.keys, "signing.key"))
	if code != 0 {
		t.Fatalf("basebackup: exit %d\n%s\n%s", code, out, errs)
	}
	return out
}

// switchAndWait closes the current segment and waits until it is archived.
func (w *archiving) switchAndWait(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	ctx := context.Background()
	var seg string
	if err := c.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&seg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT pg_switch_wal()"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var failed int64
		var last *string
		if err := c.QueryRow(ctx, `SELECT failed_count, last_archived_wal FROM pg_stat_archiver`).Scan(&failed, &last); err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			t.Fatalf("archive_command failed %d times; server log:\n%s", failed, w.pg.Log())
		}
		if last != nil && *last >= seg {
			return seg
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived after 30 s; server log:\n%s", seg, w.pg.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestWALArchiveOnRealPostgres(t *testing.T) {
	w := startArchiving(t)
	pg, keys, storeDir, store := w.pg, w.keys, w.storeDir, w.store
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g`); err != nil {
		t.Fatal(err)
	}
	seg := w.switchAndWait(t, c)
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
	id := strings.TrimSpace(w.baseBackup(t, pg.DSN))
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

// TestPointInTimeRecovery: base backup, rows A, the time T, rows B, a member's links
// deleted; restore --to-time T into an empty directory unpacks the newest base backup
// before T, passes pg_verifybackup, replays the archive (wal-fetch as restore_command)
// and promotes: rows A are there, rows B are not.
func TestPointInTimeRecovery(t *testing.T) {
	w := startArchiving(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, w.pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE links (id int PRIMARY KEY, url text)`); err != nil {
		t.Fatal(err)
	}
	w.baseBackup(t, w.pg.DSN)
	if _, err := c.Exec(ctx, `INSERT INTO links SELECT g, 'https://a.example/' || g FROM generate_series(1, 100) g`); err != nil {
		t.Fatal(err)
	}
	var target time.Time
	if err := c.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&target); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := c.Exec(ctx, `INSERT INTO links SELECT g, 'https://b.example/' || g FROM generate_series(101, 150) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `DELETE FROM links WHERE id <= 10`); err != nil {
		t.Fatal(err)
	}
	w.switchAndWait(t, c)
	// Two more segments; the first of them goes missing for a moment.
	var segs []string
	for i := range 2 {
		if _, err := c.Exec(ctx, `INSERT INTO links VALUES ($1, 'https://c.example/')`, 1000+i); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, w.switchAndWait(t, c))
	}

	old := selfBinary
	selfBinary = func() (string, error) { return w.bin, nil }
	defer func() { selfBinary = old }()

	// A gap in the archive: recovery to its end is refused before anything is unpacked,
	// naming the segment; recovery to T (before the gap) does not need it.
	rec := filepath.Join(w.storeDir, "wal", segs[0][:8], segs[0]+".json")
	if err := os.Rename(rec, rec+".away"); err != nil {
		t.Fatal(err)
	}
	gapDir := filepath.Join(filepath.Dir(w.storeDir), "gap")
	os.Mkdir(gapDir, 0o700)
	w.pg.Owner(t, gapDir)
	var out string
	_, errs, code := run(t, "restore", "--to-latest", "--pgdata", gapDir, "--store", w.store, "--identity", w.ident, "--verify-key", w.verify)
	if code != exitRefused || !strings.Contains(errs, segs[0]) {
		t.Fatalf("recovery across a gap: exit %d, want %d naming %s\n%s", code, exitRefused, segs[0], errs)
	}
	if ents, _ := os.ReadDir(gapDir); len(ents) != 0 {
		t.Fatalf("the refused recovery unpacked %d entries", len(ents))
	}
	if err := os.Rename(rec+".away", rec); err != nil {
		t.Fatal(err)
	}
	pgdata := filepath.Join(filepath.Dir(w.storeDir), "recovered")
	os.Mkdir(pgdata, 0o700)
	w.pg.Owner(t, pgdata)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	out, errs, code = run(t, "restore", "--to-time", target.UTC().Format(time.RFC3339Nano), "--pgdata", pgdata, "--start",
		"--port", strconv.Itoa(port), "--store", w.store, "--identity", w.ident, "--verify-key", w.verify)
	if code != 0 {
		log, _ := os.ReadFile(filepath.Join(pgdata, "recovery.log"))
		t.Fatalf("restore --to-time: exit %d\n%s\n%s\n%s", code, out, errs, log)
	}
	t.Cleanup(func() { backup.StopRecovered(pgdata) })
	if !strings.Contains(out, "pg_verifybackup") || !strings.Contains(out, "recovered and promoted") {
		t.Fatalf("output:\n%s", out)
	}
	m := regexp.MustCompile(`socket in (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no socket directory in:\n%s", out)
	}
	rc, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", m[1], port))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close(ctx)
	var n, a, b int
	if err := rc.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE url LIKE 'https://a.%'), count(*) FILTER (WHERE url LIKE 'https://b.%') FROM links`).Scan(&n, &a, &b); err != nil {
		t.Fatal(err)
	}
	if a != 100 || b != 0 {
		t.Fatalf("recovered to %s: %d links from before (want 100), %d from after (want 0)", target, a, b)
	}
}

// TestMemberAsOfAMinute: a member deletes their links after the base backup; restore
// --member ID --to-time (a minute before the deletion) recovers the cluster in a scratch
// directory and puts back exactly that member's links; nobody else's rows change; the
// dry run changes nothing.
func TestMemberAsOfAMinute(t *testing.T) {
	w := startArchiving(t)
	ctx := context.Background()
	admin := w.connect(t, w.pg.DSN)
	dsn, c := w.bookmarks(t, 5, 12, 3)
	w.baseBackup(t, dsn)
	count := func(sql string) int64 {
		var n int64
		if err := c.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count("SELECT count(*) FROM links WHERE member_id = 2")
	var at time.Time
	c.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&at)
	time.Sleep(1100 * time.Millisecond)
	others := count("SELECT count(*) FROM links WHERE member_id <> 2")
	if _, err := c.Exec(ctx, "DELETE FROM links WHERE member_id = 2"); err != nil {
		t.Fatal(err)
	}
	w.switchAndWait(t, admin)

	old := selfBinary
	selfBinary = func() (string, error) { return w.bin, nil }
	defer func() { selfBinary = old }()
	args := []string{"restore", "--member", "2", "--to-time", at.UTC().Format(time.RFC3339Nano), "--target", dsn,
		"--store", w.store, "--identity", w.ident, "--verify-key", w.verify}
	if out, errs, code := run(t, append(args, "--dry-run")...); code != 0 || count("SELECT count(*) FROM links WHERE member_id = 2") != 0 {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code := run(t, args...)
	if code != 0 {
		t.Fatalf("restore --member --to-time: exit %d\n%s\n%s", code, out, errs)
	}
	if got := count("SELECT count(*) FROM links WHERE member_id = 2"); got != before || before == 0 {
		t.Fatalf("member 2 has %d links after the restore, had %d before the deletion", got, before)
	}
	if got := count("SELECT count(*) FROM links WHERE member_id <> 2"); got != others {
		t.Fatalf("other members' links: %d, were %d", got, others)
	}
}

// TestStackPrimaryArchivesWAL: the test stack's primary runs with archive_mode = on and
// archive_command = this tree's linkbackup wal-push: a switched segment reaches the
// store with no archiver failure, verify --wal finds the archive complete and intact, and
// wal-fetch brings the segment back whole.
func TestStackPrimaryArchivesWAL(t *testing.T) {
	store := testenv.Env(t, testenv.EnvWALStore)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, testenv.PrimaryDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var mode, command string
	if err := c.QueryRow(ctx, `SELECT current_setting('archive_mode'), current_setting('archive_command')`).Scan(&mode, &command); err != nil {
		t.Fatal(err)
	}
	if mode != "on" || !strings.Contains(command, "linkbackup wal-push %p") {
		t.Fatalf("primary: archive_mode %s, archive_command %q", mode, command)
	}
	var failedBefore int64
	c.QueryRow(ctx, `SELECT failed_count FROM pg_stat_archiver`).Scan(&failedBefore)
	if _, err := c.Exec(ctx, `CREATE TABLE wal_probe AS SELECT g FROM generate_series(1, 1000) g; DROP TABLE wal_probe`); err != nil {
		t.Fatal(err)
	}
	var seg string
	if err := c.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&seg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var failed int64
		var last *string
		if err := c.QueryRow(ctx, `SELECT failed_count, last_archived_wal FROM pg_stat_archiver`).Scan(&failed, &last); err != nil {
			t.Fatal(err)
		}
		if failed > failedBefore {
			t.Fatalf("archive_command failed %d times", failed-failedBefore)
		}
		if last != nil && *last >= seg {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived within 60 s (last archived %v)", seg, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, errs, code := run(t, "verify", "--wal", "--store", store)
	if code != 0 || !strings.Contains(out, ": OK") {
		t.Fatalf("verify --wal of the stack's archive: exit %d\n%s\n%s", code, out, errs)
	}
	dst := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if _, errs, code := run(t, "wal-fetch", seg, dst, "--store", store); code != 0 {
		t.Fatalf("wal-fetch %s: exit %d\n%s", seg, code, errs)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Size() != 16<<20 {
		t.Fatalf("fetched %s: %v %v", seg, fi, err)
	}
}
