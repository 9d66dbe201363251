package backup_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestSubscriptionsStayOutOfCopies: a source with a logical replication subscription.
// Restored copies must never carry it (it would make them undroppable: DROP DATABASE
// fails with 55006), so the standby refreshes night after night; the manifest and the
// restore report say what was left out.
func TestSubscriptionsStayOutOfCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := bookmarkDB(t, 3, 3)
	sub := strings.ReplaceAll(testenv.UniqueName("lbsub"), "-", "_")
	mustExec(t, connect(t, src), "CREATE SUBSCRIPTION "+sub+" CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere' "+
		"PUBLICATION nowhere WITH (connect = false)")
	t.Cleanup(func() {
		c := connect(t, src)
		for _, q := range []string{"ALTER SUBSCRIPTION " + sub + " DISABLE", "ALTER SUBSCRIPTION " + sub + " SET (slot_name = NONE)",
			"DROP SUBSCRIPTION " + sub} {
			c.Exec(context.Background(), q)
		}
	})
	st := fileStore(t)
	server := testenv.StandbyDSN(t)
	name := strings.ReplaceAll(testenv.UniqueName("sbsub"), "-", "_")
	t.Cleanup(func() {
		c := connect(t, server)
		for _, n := range []string{name, name + backup.PreviousSuffix, name + backup.IncomingSuffix} {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	for night := 1; night <= 3; night++ {
		m, err := backup.Backup(ctx, opts(t, src, st))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(m.Excluded.Subscriptions, sub) {
			t.Fatalf("night %d: the manifest does not record subscription %s as left out: %+v", night, sub, m.Excluded)
		}
		if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m.ID, server, name)); err != nil {
			t.Fatalf("night %d: %v", night, err)
		}
	}
	var n int
	if err := connect(t, server).QueryRow(ctx, `SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
		WHERE d.datname LIKE $1`, name+"%").Scan(&n); err != nil || n != 0 {
		t.Fatalf("subscriptions on the standby copies: %d, %v", n, err)
	}
	ids, _ := backup.SnapshotIDs(ctx, st)
	dst := testenv.NewDatabase(t, server)
	rep, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: ids[len(ids)-1], Target: dst, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.LeftOut, func(s string) bool { return strings.Contains(s, sub) }) {
		t.Fatalf("restore report does not say the subscription was left out: %v", rep.LeftOut)
	}
}
