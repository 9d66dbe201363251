package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// keepMe creates a table with one row in the target, and returns a check that it is
// still there, unchanged.
func keepMe(t *testing.T, dsn string) func(stage string) {
	t.Helper()
	mustExec(t, connect(t, dsn), "CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (42)")
	return func(stage string) {
		t.Helper()
		c := connect(t, dsn)
		defer c.Close(context.Background())
		var x int
		if err := c.QueryRow(context.Background(), "SELECT x FROM keep_me").Scan(&x); err != nil || x != 42 {
			t.Fatalf("%s: the target was changed: %v", stage, err)
		}
	}
}

// damage replaces the stored bytes of key with f's result until the test's cleanup.
func damage(t *testing.T, dir, key string, f func([]byte) []byte) func() {
	p := filepath.Join(dir, filepath.FromSlash(key))
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, f(append([]byte{}, good...)), 0o644); err != nil {
		t.Fatal(err)
	}
	return func() { os.WriteFile(p, good, 0o644) }
}

// TestRestoreForceChangesNothingUntilSchemaIsGood: restore --force reads and checks both
// schema objects before it drops anything, and drops and runs pre-data in one
// transaction: a corrupt or truncated schema object, or a pre-data that fails half way,
// leaves the target as it was.
func TestRestoreForceChangesNothingUntilSchemaIsGood(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	role := strings.ReplaceAll(testenv.UniqueName("lbrole"), "-", "_")
	primary := testenv.PrimaryDSN(t)
	t.Cleanup(func() { connect(t, primary).Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	src := bookmarkDB(t, 5, 5)
	st := fileStore(t)
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	dst := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	unchanged := keepMe(t, dst)
	force := func(id string) error {
		_, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: id, Target: dst, Force: true, Log: testLog(t)})
		return err
	}
	flip := func(b []byte) []byte { b[len(b)/2] ^= 0x55; return b }
	cut := func(b []byte) []byte { return b[:len(b)-7] }
	for _, c := range []struct {
		what string
		obj  backup.Object
		f    func([]byte) []byte
	}{
		{"corrupt pre-data", m.PreData, flip},
		{"corrupt post-data", m.PostData, flip},
		{"truncated post-data", m.PostData, cut},
	} {
		undo := damage(t, st.Dir(), c.obj.Key, c.f)
		err := force(m.ID)
		undo()
		var oe *backup.ObjectError
		if !errors.As(err, &oe) || oe.Key != c.obj.Key {
			t.Fatalf("%s: %v; want an ObjectError naming %s", c.what, err, c.obj.Key)
		}
		unchanged(c.what)
	}

	// A pre-data that fails half way (an owner the target server lacks).
	sc := connect(t, src)
	mustExec(t, sc, "CREATE ROLE "+role)
	mustExec(t, sc, "CREATE TABLE owned_elsewhere (x int); ALTER TABLE owned_elsewhere OWNER TO "+role)
	m2, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	if err := force(m2.ID); err == nil || !strings.Contains(err.Error(), role) {
		t.Fatalf("pre-data with a missing role: %v", err)
	}
	unchanged("failed pre-data")

	// A good snapshot replaces the contents.
	if err := force(m.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	connect(t, dst).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'keep_me'").Scan(&n)
	if n != 0 {
		t.Fatal("--force kept the old table")
	}
}

// TestRestoreTablesForceIsOneTransaction: restore --tables --force truncates and loads
// the listed tables in one transaction: a load that fails (a corrupt chunk) leaves them
// as they were; tables that reference each other reload together.
func TestRestoreTablesForceIsOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := bookmarkDB(t, 5, 5)
	st := fileStore(t)
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	dst := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	ro := func(tables ...string) backup.RestoreOptions {
		return backup.RestoreOptions{Store: st, ID: m.ID, Target: dst, Force: true, Tables: tables, Log: testLog(t)}
	}
	if _, err := backup.Restore(ctx, ro()); err != nil {
		t.Fatal(err)
	}
	mustExec(t, connect(t, dst), `INSERT INTO links (member_id, url) VALUES (1, 'https://kept.example/')`)
	counts := func() (links, members int64) {
		c := connect(t, dst)
		defer c.Close(ctx)
		if err := c.QueryRow(ctx, "SELECT (SELECT count(*) FROM links), (SELECT count(*) FROM members)").Scan(&links, &members); err != nil {
			t.Fatal(err)
		}
		return links, members
	}
	links0, members0 := counts()
	var chunk backup.Object
	for _, tb := range m.Tables {
		if tb.Name == "links" {
			chunk = tb.Chunks[len(tb.Chunks)-1].Object
		}
	}
	undo := damage(t, st.Dir(), chunk.Key, func(b []byte) []byte { b[len(b)/2] ^= 0x55; return b })
	_, err = backup.Restore(ctx, ro("members", "folders", "links"))
	undo()
	var oe *backup.ObjectError
	if !errors.As(err, &oe) || oe.Key != chunk.Key {
		t.Fatalf("--tables --force with a corrupt chunk: %v; want an ObjectError naming %s", err, chunk.Key)
	}
	if l, mb := counts(); l != links0 || mb != members0 {
		t.Fatalf("a failed --tables --force changed the tables: links %d→%d, members %d→%d", links0, l, members0, mb)
	}
	// Referenced and referencing tables reload together, whatever order they are named in.
	rep, err := backup.Restore(ctx, ro("links", "folders", "members"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range rep.Tables {
		if !tc.OK {
			t.Fatalf("not proven: %+v", tc)
		}
	}
	if l, _ := counts(); l != links0-1 {
		t.Fatalf("links after the reload: %d, want the snapshot's %d", l, links0-1)
	}
}

// TestRestoreForceRefusesObjectsOutsideSchemas: objects that DROP SCHEMA … CASCADE does
// not remove (a publication, a foreign server) would make the restore fail late, after
// the target was emptied: restore refuses before changing anything, and names them.
func TestRestoreForceRefusesObjectsOutsideSchemas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := bookmarkDB(t, 3, 3)
	pub := strings.ReplaceAll(testenv.UniqueName("lbpub"), "-", "_")
	mustExec(t, connect(t, src), "CREATE PUBLICATION "+pub+" FOR ALL TABLES")
	st := fileStore(t)
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	dst := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	unchanged := keepMe(t, dst)
	mustExec(t, connect(t, dst), "CREATE PUBLICATION "+pub+" FOR ALL TABLES; CREATE FOREIGN DATA WRAPPER lb_fdw; "+
		"CREATE SERVER lb_server FOREIGN DATA WRAPPER lb_fdw")
	ro := backup.RestoreOptions{Store: st, ID: m.ID, Target: dst, Force: true, Log: testLog(t)}
	_, err = backup.Restore(ctx, ro)
	if !errors.Is(err, backup.ErrRefused) || !strings.Contains(err.Error(), "publication "+pub) || !strings.Contains(err.Error(), "lb_server") {
		t.Fatalf("restore --force over objects outside schemas: %v", err)
	}
	unchanged("refused for objects outside schemas")
	// Objects that the drop removes with their schema do not count: a cast on a type of public.
	mustExec(t, connect(t, dst), "DROP PUBLICATION "+pub+"; DROP SERVER lb_server; DROP FOREIGN DATA WRAPPER lb_fdw; "+
		"CREATE TYPE public.pair AS (a int, b int); CREATE CAST (public.pair AS text) WITH INOUT")
	if _, err := backup.Restore(ctx, ro); err != nil {
		t.Fatalf("restore --force over a cast that goes with its schema: %v", err)
	}
}
