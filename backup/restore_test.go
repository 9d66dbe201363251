package backup_test

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// schemaDump returns pg_dump --schema-only of dsn without the lines that legitimately
// differ between two databases (comments with names/versions, psql \restrict keys).
func schemaDump(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("pg_dump", "--schema-only", "--no-password", "--dbname="+pgdsn.Strip(dsn))
	cmd.Env = append(cmd.Environ(), "PGPASSWORD="+cfg.Password)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "--") || strings.HasPrefix(l, `\restrict`) || strings.HasPrefix(l, `\unrestrict`) || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// assertSameRows compares every user table of two databases row by row, both directions,
// with EXCEPT ALL, by pulling the target's rows into the source through a COPY round trip.
func assertSameRows(t *testing.T, srcDSN, dstDSN string, m *backup.Manifest) {
	t.Helper()
	ctx := context.Background()
	src, dst := connect(t, srcDSN), connect(t, dstDSN)
	for _, tb := range m.Tables {
		// Copy the target's rows into a temp table on the source, then EXCEPT ALL both ways.
		cols := make([]string, len(tb.Columns))
		for i, c := range tb.Columns {
			cols[i] = backup.QuoteIdent(c)
		}
		colList := strings.Join(cols, ", ")
		if colList == "" {
			var a, b int64
			src.QueryRow(ctx, "SELECT count(*) FROM "+tb.QualifiedName()).Scan(&a)
			dst.QueryRow(ctx, "SELECT count(*) FROM "+tb.QualifiedName()).Scan(&b)
			if a != b {
				t.Fatalf("%s: %d rows vs %d", tb.String(), a, b)
			}
			continue
		}
		mustExec(t, src, "DROP TABLE IF EXISTS pg_temp.cmp; CREATE TEMP TABLE cmp AS SELECT "+colList+" FROM "+tb.QualifiedName()+" WITH NO DATA")
		// Binary only where the snapshot found it portable (a regclass is an OID in binary).
		format := "text"
		if tb.Binary() {
			format = "binary"
		}
		pr, pw := io.Pipe()
		go func() {
			_, err := dst.PgConn().CopyTo(ctx, pw, "COPY (SELECT "+colList+" FROM "+tb.QualifiedName()+") TO STDOUT (FORMAT "+format+")")
			pw.CloseWithError(err)
		}()
		if _, err := src.PgConn().CopyFrom(ctx, pr, "COPY pg_temp.cmp FROM STDIN (FORMAT "+format+")"); err != nil {
			t.Fatalf("%s: copy target rows: %v", tb.String(), err)
		}
		for _, q := range []string{
			"SELECT count(*) FROM (SELECT " + colList + " FROM " + tb.QualifiedName() + " EXCEPT ALL SELECT * FROM pg_temp.cmp) x",
			"SELECT count(*) FROM (SELECT * FROM pg_temp.cmp EXCEPT ALL SELECT " + colList + " FROM " + tb.QualifiedName() + ") x",
		} {
			var n int64
			if err := src.QueryRow(ctx, q).Scan(&n); err != nil {
				t.Fatalf("%s: %v", tb.String(), err)
			}
			if n != 0 {
				t.Fatalf("%s: %d rows differ between source and restored copy", tb.String(), n)
			}
		}
	}
}

func TestRestoreAwkwardSchemaRoundTrip(t *testing.T) {
	t.Parallel()
	src := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	mustExec(t, connect(t, src), awkwardSchema)
	st := fileStore(t)
	ctx := context.Background()
	o := opts(t, src, st)
	o.SplitTableBytes = 8 << 10 // force ranges even here
	m, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	dst := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	rep, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: dst, Jobs: 3, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != len(m.Tables) {
		t.Fatalf("proved %d tables of %d", len(rep.Tables), len(m.Tables))
	}
	for _, c := range rep.Tables {
		if !c.OK {
			t.Fatalf("table %s not proven: %+v", c.Table, c)
		}
	}
	if a, b := schemaDump(t, src), schemaDump(t, dst); a != b {
		t.Fatalf("schemas differ after restore:\n%s", lineDiff(a, b))
	}
	assertSameRows(t, src, dst, m)
	c := connect(t, dst)
	var next int64
	if err := c.QueryRow(ctx, `SELECT nextval('"Other Schema"."MixedCase_id_seq"')`).Scan(&next); err != nil || next != 1001 {
		t.Fatalf("sequence after restore: %d, %v", next, err)
	}
	var counted int64
	if err := c.QueryRow(ctx, `SELECT sum(count) FROM event_counts`).Scan(&counted); err != nil || counted != 400 {
		t.Fatalf("materialized view not refreshed: %d, %v", counted, err)
	}
	var analyzed int
	if err := c.QueryRow(ctx, `SELECT count(DISTINCT tablename) FROM pg_stats WHERE tablename IN ('child_t', 'events_2025', 'event_counts')`).Scan(&analyzed); err != nil {
		t.Fatal(err)
	}
	var parentStats int
	c.QueryRow(ctx, `SELECT count(*) FROM pg_stats WHERE tablename = 'events'`).Scan(&parentStats)
	if analyzed != 3 || parentStats == 0 {
		t.Fatalf("restored copy has no planner statistics (tables %d, partitioned parent %d)", analyzed, parentStats)
	}
	var touched string
	mustExec(t, c, `UPDATE child_t SET note = 'x' WHERE id = 500`)
	c.QueryRow(ctx, `SELECT touched::text FROM child_t WHERE id = 500`).Scan(&touched)
	if !strings.HasPrefix(touched, "2000-01-01") {
		t.Fatalf("trigger missing after restore: touched = %q", touched)
	}
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return strings.Join(out, "\n")
}

func TestRestoreRails(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 5, 5)
	st := fileStore(t)
	ctx := context.Background()
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	ro := func(target string) backup.RestoreOptions {
		return backup.RestoreOptions{Store: st, ID: m.ID, Target: target, Log: testLog(t)}
	}
	// Into its own source: refused, nothing changed.
	_, err = backup.Restore(ctx, ro(src))
	if !errors.Is(err, backup.ErrRefused) || !strings.Contains(err.Error(), "own source") {
		t.Fatalf("same cluster: %v", err)
	}
	// Into a non-empty database: refused without --force.
	dst := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	mustExec(t, connect(t, dst), "CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (42)")
	_, err = backup.Restore(ctx, ro(dst))
	if !errors.Is(err, backup.ErrRefused) || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("non-empty: %v", err)
	}
	var x int
	if err := connect(t, dst).QueryRow(ctx, "SELECT x FROM keep_me").Scan(&x); err != nil || x != 42 {
		t.Fatalf("refused restore changed the target: %v", err)
	}
	// With --force it replaces the contents.
	o := ro(dst)
	o.Force = true
	if _, err := backup.Restore(ctx, o); err != nil {
		t.Fatal(err)
	}
	var n int
	connect(t, dst).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'keep_me'").Scan(&n)
	if n != 0 {
		t.Fatal("--force kept the old table")
	}
	// --tables into an existing schema: refused when the table has rows, then forced.
	o = ro(dst)
	o.Tables = []string{"links"}
	if _, err := backup.Restore(ctx, o); !errors.Is(err, backup.ErrRefused) {
		t.Fatalf("--tables into a full table: %v", err)
	}
	o.Force = true
	rep, err := backup.Restore(ctx, o)
	if err != nil || len(rep.Tables) != 1 || !rep.Tables[0].OK {
		t.Fatalf("--tables --force: %v %+v", err, rep)
	}
	// --tables into a hand-made table whose column types differ from the snapshot's
	// (folders is stored as binary COPY; here its ids are integer, not bigint): a clear
	// error that says what to do.
	var folders *backup.Table
	for i := range m.Tables {
		if m.Tables[i].Name == "folders" {
			folders = &m.Tables[i]
		}
	}
	if folders == nil || !folders.Binary() {
		t.Fatalf("folders is not in the snapshot as binary COPY: %+v", folders)
	}
	odd := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	mustExec(t, connect(t, odd), `CREATE TABLE folders (id integer, member_id integer, parent_id integer, name text,
  position integer, created_at timestamptz, updated_at timestamptz)`)
	o = ro(odd)
	o.Tables = []string{"folders"}
	_, err = backup.Restore(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "binary COPY") || !strings.Contains(err.Error(), "pre-data.sql.zst") {
		t.Fatalf("--tables into other column types: %v", err)
	}
	t.Logf("other column types: %v", err)
	// Downgrade: a manifest from a newer server is refused.
	m.Server.VersionNum = 990000
	m.ID = "20990101T000000.000Z"
	if err := backup.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	o = ro(testenv.NewDatabase(t, testenv.StandbyDSN(t)))
	o.ID = m.ID
	var fe *backup.FixableError
	if _, err := backup.Restore(ctx, o); !errors.Is(err, backup.ErrRefused) || !errors.As(err, &fe) || fe.Fix != backup.FixAllowDowngrade {
		t.Fatalf("downgrade: %v", err)
	}
}

func TestRestoreDetectsDigestMismatch(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 5, 5)
	st := fileStore(t)
	ctx := context.Background()
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	// A manifest whose recorded digest for links is wrong (as if the data had been
	// altered consistently with its sha256): the proof must catch it and name the table.
	for i := range m.Tables {
		if m.Tables[i].Name == "links" {
			m.Tables[i].Digest = "00000000000000000000000000000001"
		}
	}
	if err := backup.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	_, err = backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: testenv.NewDatabase(t, testenv.StandbyDSN(t)), Log: testLog(t)})
	if !errors.Is(err, backup.ErrMismatch) || !strings.Contains(err.Error(), "public.links") {
		t.Fatalf("err = %v; want ErrMismatch naming public.links", err)
	}
}

// ToastCompression lz4: the restored copy stores its long values with lz4 (columns
// without their own method), and the proof still passes on the same values.
func TestRestoreToastCompression(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	sc := connect(t, src)
	if _, err := sc.Exec(ctx, `CREATE TABLE notes (id int PRIMARY KEY, body text, kept text COMPRESSION pglz);
		INSERT INTO notes SELECT i, repeat('note ' || i, 4000), repeat('kept ' || i, 4000) FROM generate_series(1, 20) i`); err != nil {
		t.Fatal(err)
	}
	st := fileStore(t)
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	dst := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	rep, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: dst, ToastCompression: "lz4", Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 1 || !rep.Tables[0].OK || rep.Tables[0].Rows != 20 {
		t.Fatalf("proof: %+v", rep.Tables)
	}
	var body, kept string
	if err := connect(t, dst).QueryRow(ctx, `SELECT string_agg(DISTINCT pg_column_compression(body), ','),
		string_agg(DISTINCT pg_column_compression(kept), ',') FROM notes`).Scan(&body, &kept); err != nil {
		t.Fatal(err)
	}
	if body != "lz4" || kept != "pglz" {
		t.Fatalf("compression body %q kept %q; want lz4 and pglz (the column's own)", body, kept)
	}
}

// Both codecs end to end in one store: a zstd snapshot (the default) is format 3 with
// .zst objects and no codec field (as written before s2), an s2 snapshot format 4 with .s2
// objects recording their codec, and each restores and proves every table; s2 stores
// more bytes than zstd for the same rows.
func TestBackupCodecsRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := bookmarkDB(t, 30, 40)
	st := fileStore(t)
	stored := map[string]int64{}
	for _, comp := range []string{"", backup.CompressionS2} {
		o := opts(t, src, st)
		o.Compression = comp
		m, err := backup.Backup(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		want, ext, format := backup.CompressionZstd, ".zst", 3
		if comp == backup.CompressionS2 {
			want, ext, format = backup.CompressionS2, ".s2", backup.FormatVersion
		}
		if m.Compression != want || m.Format != format {
			t.Fatalf("%q: manifest compression %q format %d, want %q %d", comp, m.Compression, m.Format, want, format)
		}
		objs := []backup.Object{m.PreData, m.PostData}
		for _, tb := range m.Tables {
			for _, c := range tb.Chunks {
				objs = append(objs, c.Object)
			}
		}
		for _, obj := range objs {
			if !strings.HasSuffix(obj.Key, ext) || (obj.Comp != "") != (want == backup.CompressionS2) {
				t.Fatalf("%q: object %s records codec %q", comp, obj.Key, obj.Comp)
			}
		}
		stored[want] = m.Totals.StoredBytes
		time.Sleep(5 * time.Millisecond) // distinct snapshot ids
	}
	ms, err := backup.ListSnapshots(ctx, st)
	if err != nil || len(ms) != 2 {
		t.Fatalf("list: %d snapshots, %v", len(ms), err)
	}
	for _, m := range ms {
		rep, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: testenv.NewDatabase(t, testenv.StandbyDSN(t)), Log: testLog(t)})
		if err != nil {
			t.Fatalf("restore of the %s snapshot: %v", m.Compression, err)
		}
		for _, c := range rep.Tables {
			if !c.OK {
				t.Fatalf("%s snapshot: %+v", m.Compression, c)
			}
		}
		if rep.Rows != m.Totals.Rows {
			t.Fatalf("%s snapshot: restored %d rows, manifest %d", m.Compression, rep.Rows, m.Totals.Rows)
		}
	}
	if stored[backup.CompressionS2] <= stored[backup.CompressionZstd] {
		t.Fatalf("stored bytes s2 %d, zstd %d", stored[backup.CompressionS2], stored[backup.CompressionZstd])
	}
}
