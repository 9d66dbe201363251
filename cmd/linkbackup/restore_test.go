package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	memberrestore "github.com/linkagogo/linkbackup/backup/member"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// scalar runs a one-value query on dsn.
func scalar[T any](t *testing.T, dsn, sql string, args ...any) T {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v T
	if err := c.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func execSQL(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// userTables counts the tables of dsn's database outside the system schemas.
func userTables(t *testing.T, dsn string) int64 {
	t.Helper()
	return scalar[int64](t, dsn, `SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')`)
}

// backupTo runs `linkbackup backup` and returns the snapshot id.
func backupTo(t *testing.T, src, store string) string {
	t.Helper()
	out, errs, code := run(t, "backup", "--source", src, "--store", store, "--jobs", "2")
	if code != 0 {
		t.Fatalf("backup exit %d: %s", code, errs)
	}
	return strings.TrimSpace(out)
}

// copyManifest writes a copy of snapshot id's manifest under newID after edit; the
// copy points at the same objects.
func copyManifest(t *testing.T, store, id, newID string, edit func(*backup.Manifest)) {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.ReadManifest(ctx, st, id)
	if err != nil {
		t.Fatal(err)
	}
	m.ID = newID
	edit(m)
	if err := backup.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
}

// TestCLIRestoreEndToEnd: backup to versitygw, restore into a database on the standby
// cluster, every table proven; then again by date with --json.
func TestCLIRestoreEndToEnd(t *testing.T) {
	src := genDB(t, 30, 20)
	srv := testenv.S3Server(t)
	s3Env(t, srv)
	bucket := testenv.NewBucket(t, srv)
	store := "s3://" + bucket + "/restore?endpoint=" + srv.Endpoint + "&path_style=true&region=us-east-1"
	id := backupTo(t, src, store)

	target := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	out, errs, code := run(t, "restore", "--store", store, "--target", target, "--jobs", "2")
	if code != 0 {
		t.Fatalf("restore exit %d:\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"snapshot " + id + " ", "public.links", "public.members", "public.folders", "proven: ", "phases: pre-data"} {
		if !strings.Contains(out, want) {
			t.Fatalf("restore report lacks %q:\n%s", want, out)
		}
	}
	for _, tbl := range []string{"members", "folders", "links"} {
		q := "SELECT count(*) FROM " + tbl
		if a, b := scalar[int64](t, src, q), scalar[int64](t, target, q); a != b || a == 0 {
			t.Fatalf("%s: source %d rows, restored %d", tbl, a, b)
		}
	}
	cfg, _ := pgx.ParseConfig(target)
	if strings.Contains(out+errs, cfg.Password) {
		t.Fatal("the target's password appears in the output")
	}

	// By date, as JSON.
	target2 := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	day := id[0:4] + "-" + id[4:6] + "-" + id[6:8]
	out, errs, code = run(t, "restore", day, "--store", store, "--target", target2, "--json")
	if code != 0 {
		t.Fatalf("restore %s --json exit %d: %s", day, code, errs)
	}
	var res restoreOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if !res.OK || res.Restore == nil || res.Restore.ID != id || len(res.Restore.Tables) < 3 || res.Restore.Rows == 0 {
		t.Fatalf("--json report: %s", out)
	}
	for _, c := range res.Restore.Tables {
		if !c.OK || c.Digest != c.ManifestDigest {
			t.Fatalf("table %s not proven: %+v", c.Table, c)
		}
	}
}

// TestCLIRestoreSafetyRails: every rail exits 4 and changes nothing; a proof mismatch
// exits 5 naming the table; usage errors exit 2.
func TestCLIRestoreSafetyRails(t *testing.T) {
	src := genDB(t, 10, 10)
	store := "file://" + t.TempDir()
	id := backupTo(t, src, store)
	standby := testenv.StandbyDSN(t)
	srcLinks := scalar[int64](t, src, "SELECT count(*) FROM links")

	// Own source.
	_, errs, code := run(t, "restore", "--store", store, "--target", src)
	if code != exitRefused || !strings.Contains(errs, "own source") || !strings.Contains(errs, "--force-same-cluster") {
		t.Fatalf("restore into the source: exit %d, %s", code, errs)
	}
	if n := scalar[int64](t, src, "SELECT count(*) FROM links"); n != srcLinks {
		t.Fatalf("the refused restore changed the source: %d links, was %d", n, srcLinks)
	}

	// Not empty.
	busy := testenv.NewDatabase(t, standby)
	execSQL(t, busy, "CREATE TABLE keep (x int); INSERT INTO keep VALUES (42)")
	_, errs, code = run(t, "restore", "--store", store, "--target", busy)
	if code != exitRefused || !strings.Contains(errs, "not empty") || !strings.Contains(errs, "--force") {
		t.Fatalf("restore into a non-empty database: exit %d, %s", code, errs)
	}
	if userTables(t, busy) != 1 || scalar[int64](t, busy, "SELECT sum(x) FROM keep") != 42 {
		t.Fatal("the refused restore changed the non-empty target")
	}

	// Older server than the snapshot's (a manifest claiming PostgreSQL 99).
	const newer = "20991231T000000.000Z"
	copyManifest(t, store, id, newer, func(m *backup.Manifest) { m.Server.VersionNum = 990000 })
	empty := testenv.NewDatabase(t, standby)
	_, errs, code = run(t, "restore", newer, "--store", store, "--target", empty)
	if code != exitRefused || !strings.Contains(errs, "--allow-downgrade") {
		t.Fatalf("restore onto an older server: exit %d, %s", code, errs)
	}
	if n := userTables(t, empty); n != 0 {
		t.Fatalf("the refused downgrade left %d tables", n)
	}
	out, errs, code := run(t, "restore", newer, "--store", store, "--target", empty, "--allow-downgrade")
	if code != 0 || !strings.Contains(out, "proven: ") {
		t.Fatalf("--allow-downgrade: exit %d\n%s\n%s", code, out, errs)
	}

	// --tables: a table the snapshot lacks; a table that has rows on the target.
	_, errs, code = run(t, "restore", id, "--store", store, "--target", empty, "--tables", "public.nosuch")
	if code != exitRefused || !strings.Contains(errs, "nosuch") {
		t.Fatalf("--tables nosuch: exit %d, %s", code, errs)
	}
	execSQL(t, empty, "DELETE FROM links WHERE id = (SELECT min(id) FROM links)")
	_, errs, code = run(t, "restore", id, "--store", store, "--target", empty, "--tables", "links")
	if code != exitRefused || !strings.Contains(errs, "has rows") {
		t.Fatalf("--tables into a table with rows: exit %d, %s", code, errs)
	}
	if n := scalar[int64](t, empty, "SELECT count(*) FROM links"); n != srcLinks-1 {
		t.Fatalf("the refused --tables restore changed links: %d rows, want %d", n, srcLinks-1)
	}
	// ... and with --force the table is truncated and reloaded, proven.
	out, errs, code = run(t, "restore", id, "--store", store, "--target", empty, "--tables", "links", "--force")
	if code != 0 || scalar[int64](t, empty, "SELECT count(*) FROM links") != srcLinks {
		t.Fatalf("--tables links --force: exit %d\n%s\n%s", code, out, errs)
	}

	// Proof mismatch: the manifest's digest of members is wrong.
	const bad = "20991231T000001.000Z"
	copyManifest(t, store, id, bad, func(m *backup.Manifest) {
		for i := range m.Tables {
			if m.Tables[i].Name == "members" {
				m.Tables[i].Digest = "0123456789abcdef0123456789abcdef"
			}
		}
	})
	out, errs, code = run(t, "restore", bad, "--store", store, "--target", testenv.NewDatabase(t, standby))
	if code != exitMismatch || !strings.Contains(errs, "public.members") || !strings.Contains(out, "MISMATCH") {
		t.Fatalf("proof mismatch: exit %d\n%s\n%s", code, out, errs)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"restore", "--store", store},
		{"restore", "--store", store, "--target", empty, "--dry-run"},
		{"restore", "--store", store, "--target", empty, "--member", "1", "--force"},
		{"restore", "--store", store, "--target", empty, "--member", "0"},
		{"restore", "a", "b", "--store", store, "--target", empty},
	} {
		if _, errs, code := run(t, args...); code != exitUsage {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, exitUsage, errs)
		}
	}
}

// TestCLIRestoreMember: a member's deleted links come back; the dry run changes nothing;
// nobody else's rows change.
func TestCLIRestoreMember(t *testing.T) {
	src := genDB(t, 10, 10)
	store := "file://" + t.TempDir()
	id := backupTo(t, src, store)
	member := scalar[int64](t, src, "SELECT min(member_id) FROM links")
	mine := scalar[int64](t, src, "SELECT count(*) FROM links WHERE member_id = $1", member)
	others := scalar[int64](t, src, "SELECT count(*) FROM links WHERE member_id <> $1", member)
	// "I deleted my links last Tuesday"; meanwhile another member changes a link.
	execSQL(t, src, "DELETE FROM links WHERE member_id = $1", member)
	execSQL(t, src, "UPDATE links SET title = 'changed since' WHERE id = (SELECT min(id) FROM links WHERE member_id <> $1)", member)

	m := strconv.FormatInt(member, 10)
	out, errs, code := run(t, "restore", id, "--store", store, "--target", src, "--member", m, "--dry-run")
	if code != 0 || !strings.Contains(out, "DRY RUN") || !strings.Contains(out, "public.links") {
		t.Fatalf("--member --dry-run: exit %d\n%s\n%s", code, out, errs)
	}
	if n := scalar[int64](t, src, "SELECT count(*) FROM links WHERE member_id = $1", member); n != 0 {
		t.Fatalf("the dry run restored %d links", n)
	}

	out, errs, code = run(t, "restore", id, "--store", store, "--target", src, "--member", m, "--json")
	if code != 0 {
		t.Fatalf("--member: exit %d\n%s\n%s", code, out, errs)
	}
	var res restoreOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Member == nil {
		t.Fatalf("--member --json: %v\n%s", err, out)
	}
	var links *memberrestore.TableReport
	for i := range res.Member.Tables {
		if res.Member.Tables[i].Table == "public.links" {
			links = &res.Member.Tables[i]
		}
	}
	if links == nil || links.Inserted != mine || links.InSnapshot != mine {
		t.Fatalf("links report %+v, want %d inserted", links, mine)
	}
	if n := scalar[int64](t, src, "SELECT count(*) FROM links WHERE member_id = $1", member); n != mine {
		t.Fatalf("member has %d links after the restore, want %d", n, mine)
	}
	if n := scalar[int64](t, src, "SELECT count(*) FROM links WHERE member_id <> $1", member); n != others {
		t.Fatalf("other members have %d links, want %d", n, others)
	}
	if n := scalar[int64](t, src, "SELECT count(*) FROM links WHERE title = 'changed since'"); n != 1 {
		t.Fatal("another member's change was overwritten")
	}
}
