package backup_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: testLogLevel()}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func fileStore(t testing.TB) *file.Store {
	t.Helper()
	st, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(ctx) })
	return c
}

func mustExec(t *testing.T, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", firstLine(sql), err)
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(strings.TrimSpace(s), "\n"); return l }

// bookmarkDB returns a fresh database holding generated bookmark data.
func bookmarkDB(t *testing.T, members, links int) string {
	t.Helper()
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember, o.Seed = members, links, 7
	dsn, _ := testenv.BookmarkDB(t, o)
	return dsn
}

func opts(t *testing.T, dsn string, st backup.Store) backup.Options {
	return backup.Options{Source: dsn, Store: st, Jobs: 3, Log: testLog(t), ToolVersion: "test"}
}

// sourceDigest computes a table's rows and digest straight from the database, the way a
// restore drill does, independently of the backup's own stream.
func sourceDigest(t *testing.T, dsn string, tbl backup.Table) (int64, string) {
	t.Helper()
	cfg, err := backup.ConnConfig(dsn, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	cols := make([]string, len(tbl.Columns))
	for i, col := range tbl.Columns {
		cols[i] = backup.QuoteIdent(col)
	}
	sql := "COPY " + tbl.QualifiedName() + " TO STDOUT"
	if len(cols) > 0 {
		sql = "COPY " + tbl.QualifiedName() + " (" + strings.Join(cols, ",") + ") TO STDOUT"
	}
	rd := backup.RowDigester{Binary: tbl.Binary()}
	if tbl.Binary() {
		sql += " WITH (FORMAT binary)"
	}
	if _, err := c.PgConn().CopyTo(ctx, &rd, sql); err != nil {
		t.Fatal(err)
	}
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	return rd.Rows, rd.Digest.String()
}

func TestBackupBookmarksFileStore(t *testing.T) {
	t.Parallel()
	dsn := bookmarkDB(t, 40, 30)
	st := fileStore(t)
	ctx := context.Background()
	o := opts(t, dsn, st)
	o.AppVersionQuery = "SELECT 'app-' || count(*) FROM members"
	m, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.AppVersion != "app-40" {
		t.Fatalf("app version stamp = %q, want app-40", m.AppVersion)
	}
	if m.Format != 3 || m.Compression != backup.CompressionZstd || m.Database == "" || m.Server.VersionNum < 150000 || m.Tool != "test" {
		t.Fatalf("manifest header: %+v", m)
	}
	if m.Server.SystemIdentifier == "" {
		t.Fatal("no system identifier recorded")
	}
	names := map[string]backup.Table{}
	for _, tb := range m.Tables {
		names[tb.String()] = tb
	}
	for _, want := range []string{"public.members", "public.folders", "public.links"} {
		tb, ok := names[want]
		if !ok {
			t.Fatalf("table %s missing from manifest: %v", want, names)
		}
		rows, digest := sourceDigest(t, dsn, tb)
		if tb.Rows != rows || tb.Digest != digest {
			t.Fatalf("%s: manifest %d rows %s, source %d rows %s", want, tb.Rows, tb.Digest, rows, digest)
		}
	}
	var links int64
	connect(t, dsn).QueryRow(ctx, "SELECT count(*) FROM links").Scan(&links)
	if names["public.links"].Rows != links || links != 40*30 {
		t.Fatalf("links rows %d, count(*) %d", names["public.links"].Rows, links)
	}
	if len(m.Sequences) != 3 {
		t.Fatalf("sequences: %+v", m.Sequences)
	}
	for _, s := range m.Sequences {
		if !s.IsCalled || s.LastValue < 1 {
			t.Fatalf("sequence %s.%s not advanced: %+v", s.Schema, s.Name, s)
		}
	}
	// Schema: pre-data creates the tables, post-data the indexes.
	pre := readObject(t, st, m.PreData)
	post := readObject(t, st, m.PostData)
	if !strings.Contains(pre, "CREATE TABLE public.links") || !strings.Contains(post, "CREATE INDEX links_member_folder") {
		t.Fatalf("schema sections incomplete:\npre %d bytes, post:\n%s", len(pre), post)
	}
	ids, err := backup.SnapshotIDs(ctx, st)
	if err != nil || len(ids) != 1 || ids[0] != m.ID {
		t.Fatalf("SnapshotIDs = %v, %v", ids, err)
	}
	rep, err := backup.Verify(ctx, st, m.ID, backup.VerifyOptions{Jobs: 2, Log: testLog(t)})
	if err != nil {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if rep.Rows != m.Totals.Rows || rep.Objects != m.Totals.Objects {
		t.Fatalf("verify checked %d rows / %d objects, manifest has %d / %d", rep.Rows, rep.Objects, m.Totals.Rows, m.Totals.Objects)
	}
}

func readObject(t *testing.T, st backup.Store, o backup.Object) string {
	t.Helper()
	rc, err := backup.OpenObject(context.Background(), st, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const awkwardSchema = `
CREATE SCHEMA "Other Schema";
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE "Other Schema"."MixedCase" (
  id serial PRIMARY KEY, "Weird ""col""" text, m mood, p posint, j jsonb, n numeric,
  f float8, arr int[], b bytea, ts timestamptz, g int GENERATED ALWAYS AS (p * 2) STORED);
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL, v text) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE nocols ();
CREATE MATERIALIZED VIEW event_counts AS SELECT at, count(*) FROM events GROUP BY at;
CREATE MATERIALIZED VIEW never_filled AS SELECT 1 AS x WITH NO DATA;
INSERT INTO "Other Schema"."MixedCase" ("Weird ""col""", m, p, j, n, f, arr, b, ts) VALUES
  (E'tab\there\nnewline \\ backslash', 'happy', 3, '{"a": [1, 2]}', 1.50, 'NaN', '{1,NULL,3}', '\x00ff', 'infinity'),
  (NULL, NULL, NULL, NULL, 'NaN', '-Infinity', '{}', '', '-infinity'),
  ('émoji 🔖', 'sad', 1, 'null', 12345678901234567890.123, 0.1, NULL, NULL, '2026-11-27 12:00:00+05');
INSERT INTO events (at, v) SELECT DATE '2025-06-01' + i, 'v' || i FROM generate_series(1, 400) i;
INSERT INTO nocols DEFAULT VALUES; INSERT INTO nocols DEFAULT VALUES;
SELECT setval('"Other Schema"."MixedCase_id_seq"', 1000);
REFRESH MATERIALIZED VIEW event_counts;
CREATE TABLE builtin_t (id int PRIMARY KEY, j jsonb, n numeric(30,3), f float4, arr text[], b bytea,
  ts timestamp, iv interval, u uuid, ip inet, c char(3), d date, x tsvector, bits bit varying);
INSERT INTO builtin_t VALUES
  (1, '{"k": "v\\n"}', 'NaN', 'NaN', '{"a b",NULL,"\\"}', '\x00', 'infinity', '1 day 02:00', gen_random_uuid(), '10.0.0.1/8', 'ab', '-infinity', 'fat:2 cat:1', B'101'),
  (2, NULL, 1.5, '-Infinity', '{}', NULL, '2026-01-01 00:00:00.123456', NULL, NULL, '::1', NULL, NULL, NULL, B''),
  (3, '[]', -0.001, 0.1, ARRAY[E'tab\there'], '', '-infinity', '-3 mons', NULL, NULL, 'x', '2026-11-27', '', NULL);
CREATE TABLE reg_t (r regclass, t text);
INSERT INTO reg_t VALUES ('builtin_t', 'points at a table by OID');
CREATE TABLE parent_t (id int PRIMARY KEY, label text UNIQUE);
CREATE TABLE child_t (id int GENERATED BY DEFAULT AS IDENTITY (START 500) PRIMARY KEY,
  parent_id int REFERENCES parent_t(id), note text, touched timestamptz);
CREATE INDEX child_note ON child_t (lower(note)) WHERE note IS NOT NULL;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.touched := '2000-01-01 00:00:00+00'; RETURN NEW; END $$;
CREATE TRIGGER child_touch BEFORE UPDATE ON child_t FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW child_view AS SELECT c.id, p.label FROM child_t c JOIN parent_t p ON p.id = c.parent_id;
INSERT INTO parent_t VALUES (1, 'one'), (2, 'two');
INSERT INTO child_t (parent_id, note) SELECT 1 + i % 2, CASE WHEN i % 3 = 0 THEN NULL ELSE 'n' || i END FROM generate_series(1, 50) i;
CREATE INDEX events_at ON events (at);
`

func TestBackupAwkwardSchema(t *testing.T) {
	t.Parallel()
	dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	mustExec(t, connect(t, dsn), awkwardSchema)
	st := fileStore(t)
	ctx := context.Background()
	m, err := backup.Backup(ctx, opts(t, dsn, st))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]backup.Table{}
	for _, tb := range m.Tables {
		byName[tb.String()] = tb
	}
	mixed, ok := byName["Other Schema.MixedCase"]
	if !ok {
		t.Fatalf("mixed-case table missing: %v", byName)
	}
	for _, c := range mixed.Columns {
		if c == "g" {
			t.Fatal("generated column g is in the COPY column list")
		}
	}
	if mixed.Rows != 3 {
		t.Fatalf("MixedCase rows = %d", mixed.Rows)
	}
	if _, ok := byName["public.events"]; ok {
		t.Fatal("partitioned parent listed as a data table (its rows would be copied twice)")
	}
	p25, p26 := byName["public.events_2025"], byName["public.events_2026"]
	if p25.Rows+p26.Rows != 400 || p25.Parent != "public.events" {
		t.Fatalf("partitions: %+v %+v", p25, p26)
	}
	// COPY format: binary only where every column type is built in and OID-free.
	for name, binary := range map[string]bool{"public.builtin_t": true, "public.child_t": true,
		"Other Schema.MixedCase": false, "public.reg_t": false, "public.nocols": false} {
		if tb := byName[name]; tb.Binary() != binary {
			t.Fatalf("%s: binary COPY = %v, want %v", name, tb.Binary(), binary)
		}
	}
	if byName["public.nocols"].Rows != 2 {
		t.Fatalf("zero-column table rows = %d", byName["public.nocols"].Rows)
	}
	for name, tb := range byName {
		rows, digest := sourceDigest(t, dsn, tb)
		if rows != tb.Rows || digest != tb.Digest {
			t.Fatalf("%s: manifest %d/%s, source %d/%s", name, tb.Rows, tb.Digest, rows, digest)
		}
	}
	if len(m.MatViews) != 1 || m.MatViews[0].Name != "event_counts" {
		t.Fatalf("materialized views to refresh = %+v (never_filled must not be refreshed)", m.MatViews)
	}
	var seq *backup.Sequence
	for i := range m.Sequences {
		if m.Sequences[i].Name == "MixedCase_id_seq" {
			seq = &m.Sequences[i]
		}
	}
	if seq == nil || seq.LastValue != 1000 || !seq.IsCalled {
		t.Fatalf("sequence state: %+v", m.Sequences)
	}
	data := readObject(t, st, mixed.Chunks[0].Object)
	if !strings.Contains(data, `tab\there\nnewline \\ backslash`) || !strings.Contains(data, "\\x00ff") || !strings.Contains(data, "NaN") {
		t.Fatalf("COPY text not in the fixed session format:\n%s", data)
	}
	if _, err := backup.Verify(ctx, st, m.ID, backup.VerifyOptions{Jobs: 2, Log: testLog(t)}); err != nil {
		t.Fatal(err)
	}
}

func TestBackupLeavesOutStateSchemas(t *testing.T) {
	t.Parallel()
	dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	mustExec(t, connect(t, dsn), `CREATE TABLE keep (x int); INSERT INTO keep VALUES (1);
		CREATE SCHEMA lb_state; CREATE TABLE lb_state.river_job (id int); INSERT INTO lb_state.river_job VALUES (1);
		COMMENT ON SCHEMA lb_state IS '`+backup.StateSchemaPrefix+`: River jobs and the ledger'`)
	ctx := context.Background()
	st := fileStore(t)
	so := opts(t, dsn, st)
	so.StateSchema, so.StateTables = "lb_state", []string{"river_%"}
	m, err := backup.Backup(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range m.Tables {
		if tb.Schema == "lb_state" {
			t.Fatalf("state table %s backed up", tb.String())
		}
	}
	if len(m.Excluded.Schemas) != 1 || m.Excluded.Schemas[0] != "lb_state" {
		t.Fatalf("excluded schemas recorded: %v", m.Excluded.Schemas)
	}
	if pre := readObject(t, st, m.PreData); strings.Contains(pre, "lb_state") {
		t.Fatal("the state schema is in the pre-data section")
	}
	o := opts(t, dsn, st)
	o.IncludeStateSchemas = true
	if m, err = backup.Backup(ctx, o); err != nil || len(m.Tables) != 2 {
		t.Fatalf("with IncludeStateSchemas: %v, %d tables", err, len(m.Tables))
	}
}

func TestBackupSplitsLargeTablesSameDigest(t *testing.T) {
	t.Parallel()
	dsn := bookmarkDB(t, 60, 100)
	ctx := context.Background()
	whole, err := backup.Backup(ctx, opts(t, dsn, fileStore(t)))
	if err != nil {
		t.Fatal(err)
	}
	o := opts(t, dsn, fileStore(t))
	o.SplitTableBytes = 256 << 10 // links (~2 MB) becomes several ranges
	split, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, tb := range split.Tables {
		w := whole.Tables[i]
		if tb.Rows != w.Rows || tb.Digest != w.Digest {
			t.Fatalf("%s: split %d/%s, whole %d/%s", tb.String(), tb.Rows, tb.Digest, w.Rows, w.Digest)
		}
		if tb.Name == "links" && len(tb.Chunks) < 3 {
			t.Fatalf("links copied in %d chunks, want several", len(tb.Chunks))
		}
	}
	if _, err := backup.Verify(ctx, o.Store, split.ID, backup.VerifyOptions{Jobs: 2, Log: testLog(t)}); err != nil {
		t.Fatal(err)
	}
}

func TestBackupConsistentUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	dsn := bookmarkDB(t, 50, 40)
	ctx, cancel := context.WithCancel(context.Background())
	// A writer moves links between members while the backup runs; under one snapshot the
	// per-member counts in the backup must still sum to the total it saw.
	writer := connect(t, dsn)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			writer.Exec(ctx, `INSERT INTO links (member_id, url) SELECT 1 + $1::int % 50, 'https://new.example/' || $1::int`, i)
			writer.Exec(ctx, `DELETE FROM links WHERE id = (SELECT min(id) FROM links)`)
		}
	}()
	o := opts(t, dsn, fileStore(t))
	o.SplitTableBytes = 64 << 10
	m, err := backup.Backup(context.Background(), o)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var links backup.Table
	for _, tb := range m.Tables {
		if tb.Name == "links" {
			links = tb
		}
	}
	// Insert+delete pairs keep the count at 2000 in every committed state.
	if links.Rows != 2000 && links.Rows != 2001 {
		t.Fatalf("links rows in snapshot = %d, want 2000 (or 2001 between the two statements): not one snapshot", links.Rows)
	}
}

// blockingStore blocks every Put until release is closed.
type blockingStore struct {
	backup.Store
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingStore) Put(ctx context.Context, key string, r io.Reader) (backup.ObjectInfo, error) {
	b.once.Do(func() { close(b.entered) })
	select {
	case <-b.release:
	case <-ctx.Done():
		return backup.ObjectInfo{}, ctx.Err()
	}
	return b.Store.Put(ctx, key, r)
}

func TestBackupSecondConcurrentRunRefuses(t *testing.T) {
	t.Parallel()
	dsn := bookmarkDB(t, 5, 5)
	st := fileStore(t)
	bs := &blockingStore{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { _, err := backup.Backup(ctx, opts(t, dsn, bs)); first <- err }()
	<-bs.entered
	_, err := backup.Backup(ctx, opts(t, dsn, st))
	if !errors.Is(err, backup.ErrLocked) || !strings.Contains(err.Error(), "linkbackup@") || !strings.Contains(err.Error(), "since") {
		t.Fatalf("second backup: %v; want ErrLocked naming host/pid and since", err)
	}
	close(bs.release)
	if err := <-first; err != nil {
		t.Fatalf("first backup: %v", err)
	}
	// The lock dies with the session: a third run goes through.
	if _, err := backup.Backup(ctx, opts(t, dsn, st)); err != nil {
		t.Fatal(err)
	}
}

func TestBackupRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("unreadable table", func(t *testing.T) {
		dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
		c := connect(t, dsn)
		role := strings.ReplaceAll(testenv.UniqueName("lbrole"), "-", "_")
		mustExec(t, c, `CREATE TABLE open_t (x int); CREATE TABLE secret_t (x int);
			CREATE ROLE `+role+` LOGIN PASSWORD 'pw'; GRANT SELECT ON open_t TO `+role)
		t.Cleanup(func() {
			c.Exec(ctx, "DROP OWNED BY "+role)
			c.Exec(ctx, "DROP ROLE "+role)
		})
		cfg, _ := pgx.ParseConfig(dsn)
		roleDSN := strings.Replace(dsn, "postgres:"+cfg.Password+"@", role+":pw@", 1)
		_, err := backup.Backup(ctx, opts(t, roleDSN, fileStore(t)))
		if err == nil || !strings.Contains(err.Error(), "public.secret_t") || !strings.Contains(err.Error(), "GRANT SELECT") {
			t.Fatalf("err = %v; want a refusal naming public.secret_t and what to do", err)
		}
		o := opts(t, roleDSN, fileStore(t))
		o.ExcludeTables = []string{"public.secret_t"}
		if _, err := backup.Backup(ctx, o); err != nil {
			t.Fatalf("with the table excluded: %v", err)
		}
	})
	t.Run("large objects", func(t *testing.T) {
		dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
		mustExec(t, connect(t, dsn), `CREATE TABLE t (x int); SELECT lo_from_bytea(0, 'blob')`)
		// Backed up by default (TestLargeObjectsRoundTrip); SkipLargeObjects leaves them out.
		st := fileStore(t)
		o := opts(t, dsn, st)
		o.SkipLargeObjects = true
		m, err := backup.Backup(ctx, o)
		if err != nil || m.LargeObjects != 1 {
			t.Fatalf("skip: %v, recorded %d", err, m.LargeObjects)
		}
	})
	t.Run("standby copy", func(t *testing.T) {
		dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
		c := connect(t, dsn)
		mustExec(t, c, `CREATE TABLE t (x int)`)
		mustExec(t, c, `DO $$ BEGIN EXECUTE format('COMMENT ON DATABASE %I IS %L', current_database(), 'linkbackup:standby snapshot=x'); END $$`)
		_, err := backup.Backup(ctx, opts(t, dsn, fileStore(t)))
		if err == nil || !strings.Contains(err.Error(), "standby copy") {
			t.Fatalf("err = %v; want a refusal to back up a standby copy", err)
		}
		o := opts(t, dsn, fileStore(t))
		o.AllowStandbySource = true
		if _, err := backup.Backup(ctx, o); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unreachable source", func(t *testing.T) {
		_, err := backup.Backup(ctx, opts(t, "postgres://u:topsecret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", fileStore(t)))
		if err == nil || strings.Contains(err.Error(), "topsecret") || !strings.Contains(err.Error(), "connect to source") {
			t.Fatalf("err = %v; want a connect error without the password", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
		cfg, _ := pgx.ParseConfig(dsn)
		bad := strings.Replace(dsn, ":"+cfg.Password+"@", ":wrongpass@", 1)
		_, err := backup.Backup(ctx, opts(t, bad, fileStore(t)))
		if err == nil || strings.Contains(err.Error(), "wrongpass") || !strings.Contains(err.Error(), "password authentication failed") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("old pg_dump", func(t *testing.T) {
		// The advice (install postgresql-client-16) is the fix's wording (internal/clihint).
		err := backup.CheckPgDump("pg_dump", 15, 160004)
		var fe *backup.FixableError
		if !errors.As(err, &fe) || fe.Fix != backup.FixPgDumpNewer || fe.Arg != "16" {
			t.Fatalf("err = %v; want FixPgDumpNewer for 16", err)
		}
		if err := backup.CheckPgDump("pg_dump", 16, 150018); err != nil {
			t.Fatal(err)
		}
		dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
		fake := filepath.Join(t.TempDir(), "pg_dump")
		os.WriteFile(fake, []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.9'\n"), 0o755)
		o := opts(t, dsn, fileStore(t))
		o.PgDump = fake
		if _, err := backup.Backup(ctx, o); !errors.As(err, &fe) || fe.Fix != backup.FixPgDumpNewer || fe.Arg != "15" {
			t.Fatalf("err = %v; want the pg_dump version refusal", err)
		}
	})
}

// failingStore fails the Put of any key containing match after reading some bytes.
type failingStore struct {
	backup.Store
	match string
}

func (f *failingStore) Put(ctx context.Context, key string, r io.Reader) (backup.ObjectInfo, error) {
	if strings.Contains(key, f.match) {
		io.CopyN(io.Discard, r, 100)
		return backup.ObjectInfo{}, errors.New("injected store failure")
	}
	return f.Store.Put(ctx, key, r)
}

func TestBackupFailureLeavesNoSnapshot(t *testing.T) {
	t.Parallel()
	dsn := bookmarkDB(t, 20, 20)
	st := fileStore(t)
	ctx := context.Background()
	_, err := backup.Backup(ctx, opts(t, dsn, &failingStore{Store: st, match: "links"}))
	if err == nil || !strings.Contains(err.Error(), "injected store failure") || !strings.Contains(err.Error(), "public.links") {
		t.Fatalf("err = %v; want the store failure naming the table", err)
	}
	if ids, _ := backup.SnapshotIDs(ctx, st); len(ids) != 0 {
		t.Fatalf("failed backup is listed: %v", ids)
	}
	if objs, _ := st.List(ctx, ""); len(objs) != 0 {
		t.Fatalf("failed backup left %d objects behind, e.g. %s", len(objs), objs[0].Key)
	}
	if _, err := backup.Backup(ctx, opts(t, dsn, st)); err != nil {
		t.Fatalf("next run: %v", err)
	}
}

func TestVerifyNamesCorruptAndTruncatedObjects(t *testing.T) {
	t.Parallel()
	dsn := bookmarkDB(t, 20, 20)
	st := fileStore(t)
	ctx := context.Background()
	m, err := backup.Backup(ctx, opts(t, dsn, st))
	if err != nil {
		t.Fatal(err)
	}
	var linksKey, membersKey string
	for _, tb := range m.Tables {
		switch tb.Name {
		case "links":
			linksKey = tb.Chunks[0].Key
		case "members":
			membersKey = tb.Chunks[0].Key
		}
	}
	// Flip one byte in the middle of links; cut members short.
	p := filepath.Join(st.Dir(), filepath.FromSlash(linksKey))
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o644)
	p = filepath.Join(st.Dir(), filepath.FromSlash(membersKey))
	b, _ = os.ReadFile(p)
	os.WriteFile(p, b[:len(b)-7], 0o644)
	os.Remove(filepath.Join(st.Dir(), filepath.FromSlash(m.PostData.Key)))

	rep, err := backup.Verify(ctx, st, m.ID, backup.VerifyOptions{Jobs: 2, Log: testLog(t)})
	if !errors.Is(err, backup.ErrVerify) {
		t.Fatalf("verify err = %v, want ErrVerify", err)
	}
	got := map[string]string{}
	for _, p := range rep.Problems {
		got[p.Key] = p.What
	}
	if len(got) != 3 || got[linksKey] == "" || got[membersKey] == "" || got[m.PostData.Key] == "" {
		t.Fatalf("problems = %+v; want exactly links, members and post-data named", rep.Problems)
	}
}

func TestCleanOrphans(t *testing.T) {
	t.Parallel()
	st := fileStore(t)
	ctx := context.Background()
	put := func(k string) {
		if _, err := st.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	put("snapshots/20260101T000000.000Z/data/0000-a.0000.copy.zst")
	put("snapshots/20260102T000000.000Z/data/0000-a.0000.copy.zst")
	put("snapshots/20260102T000000.000Z/manifest.json")
	if err := backup.CleanOrphans(ctx, st, time.Hour, time.Now(), testLog(t)); err != nil {
		t.Fatal(err)
	}
	if objs, _ := st.List(ctx, ""); len(objs) != 3 {
		t.Fatalf("young orphan removed: %d objects left", len(objs))
	}
	if err := backup.CleanOrphans(ctx, st, time.Hour, time.Now().Add(2*time.Hour), testLog(t)); err != nil {
		t.Fatal(err)
	}
	objs, _ := st.List(ctx, "")
	if len(objs) != 2 || !strings.HasPrefix(objs[0].Key, "snapshots/20260102") {
		t.Fatalf("after cleanup: %+v; want only the complete snapshot", objs)
	}
}

// testLogLevel is warn, or LINKBACKUP_TEST_LOG (debug, info) for a closer look.
func testLogLevel() slog.Level {
	var l slog.Level = slog.LevelWarn
	if v := os.Getenv("LINKBACKUP_TEST_LOG"); v != "" {
		l.UnmarshalText([]byte(v))
	}
	return l
}
