package backup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestLargeObjectsRoundTrip: large objects are backed up (bytes, owner, grants),
// verified, restored and proven by count and digest, instead of refusing the backup.
func TestLargeObjectsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := strings.ReplaceAll(testenv.UniqueName("lbloown"), "-", "_")
	reader := strings.ReplaceAll(testenv.UniqueName("lblord"), "-", "_")
	primary, standby := testenv.PrimaryDSN(t), testenv.StandbyDSN(t)
	for _, srv := range []string{primary, standby} {
		mustExec(t, connect(t, srv), "CREATE ROLE "+owner+"; CREATE ROLE "+reader)
		t.Cleanup(func() {
			c := connect(t, srv)
			for _, r := range []string{owner, reader} {
				c.Exec(context.Background(), "DROP OWNED BY "+r)
				c.Exec(context.Background(), "DROP ROLE IF EXISTS "+r)
			}
		})
	}
	src := testenv.NewDatabase(t, primary)
	mustExec(t, connect(t, src), `CREATE TABLE docs (id int PRIMARY KEY, body oid);
		INSERT INTO docs VALUES (1, lo_from_bytea(0, 'small blob')),
			(2, lo_from_bytea(0, decode(repeat(md5('x'), 100000), 'hex'))), (3, lo_from_bytea(0, ''));
		SELECT lo_from_bytea(424242, 'fixed oid');
		ALTER LARGE OBJECT 424242 OWNER TO `+owner+`; GRANT SELECT ON LARGE OBJECT 424242 TO `+reader)
	st := fileStore(t)
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatalf("backup of a database with large objects: %v", err)
	}
	if m.LargeObjectData == nil || m.LargeObjectData.Count != 4 || m.LargeObjects != 0 {
		t.Fatalf("manifest large objects: %+v (skipped %d)", m.LargeObjectData, m.LargeObjects)
	}
	if _, err := backup.Verify(ctx, st, m.ID, backup.VerifyOptions{Jobs: 2, Log: testLog(t)}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	dst := testenv.NewDatabase(t, standby)
	rep, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: dst, Log: testLog(t)})
	if err != nil || rep.LargeObjects != 4 {
		t.Fatalf("restore: %v, %d large objects", err, rep.LargeObjects)
	}
	sum := `SELECT string_agg(m.oid || ':' || md5(lo_get(m.oid)) || ':' || pg_get_userbyid(m.lomowner) || ':' ||
		coalesce(m.lomacl::text, ''), ',' ORDER BY m.oid) FROM pg_largeobject_metadata m`
	var a, b string
	if err := connect(t, src).QueryRow(ctx, sum).Scan(&a); err != nil {
		t.Fatal(err)
	}
	if err := connect(t, dst).QueryRow(ctx, sum).Scan(&b); err != nil {
		t.Fatal(err)
	}
	if a != b || !strings.Contains(b, "424242:") || !strings.Contains(b, reader+"=r/") {
		t.Fatalf("large objects differ:\nsource %s\ntarget %s", a, b)
	}
	// A target that already holds large objects is refused before anything changes.
	_, err = backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: dst, Force: true, Log: testLog(t)})
	if err == nil || !strings.Contains(err.Error(), "large object 424242") {
		t.Fatalf("restore --force over large objects: %v", err)
	}
}
