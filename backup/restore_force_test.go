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
