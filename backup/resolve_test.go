package backup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestLatestIsPerDatabase: with snapshots of two databases in one store, "latest" and a
// date mean the newest of the database asked about, and are refused as ambiguous when no
// database is named.
func TestLatestIsPerDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := fileStore(t)
	a := bookmarkDB(t, 2, 2)
	b := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	mustExec(t, connect(t, b), "CREATE TABLE other (x int)")
	ma, err := backup.Backup(ctx, opts(t, a, st))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	mb, err := backup.Backup(ctx, opts(t, b, st)) // the newest in the store
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := pgx.ParseConfig(a)
	day := ma.Started.UTC().Format("2006-01-02")
	for _, ref := range []string{"latest", day} {
		id, err := backup.ResolveSnapshot(ctx, st, ref, cfg.Database)
		if err != nil || id != ma.ID {
			t.Fatalf("%s of %s: %s, %v; want %s", ref, cfg.Database, id, err, ma.ID)
		}
		id, err = backup.ResolveSnapshot(ctx, st, ref, "")
		var fe *backup.FixableError
		if !errors.Is(err, backup.ErrRefused) || !errors.As(err, &fe) || fe.Fix != backup.FixSnapshotDatabase {
			t.Fatalf("%s without a database, two databases in the store: %s, %v; want refused as ambiguous", ref, id, err)
		}
	}
	// An exact id needs no database.
	if id, err := backup.ResolveSnapshot(ctx, st, mb.ID, ""); err != nil || id != mb.ID {
		t.Fatalf("exact id: %s, %v", id, err)
	}
}

// TestStatusLatestIsPerDatabase: status judges the newest snapshot of the source
// database it is told about, not another database's newer one in the same store.
func TestStatusLatestIsPerDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := fileStore(t)
	now := time.Now().UTC()
	for _, m := range []*backup.Manifest{
		{ID: now.Add(-2 * time.Hour).Format(backup.IDFormat), Database: "bookmarks", Started: now.Add(-2 * time.Hour)},
		{ID: now.Add(-time.Hour).Format(backup.IDFormat), Database: "other", Started: now.Add(-time.Hour)},
	} {
		if err := backup.WriteManifest(ctx, st, m); err != nil {
			t.Fatal(err)
		}
	}
	f := backup.GatherStatus(ctx, backup.StatusOptions{Store: st, SourceDatabase: "bookmarks"})
	if f.Latest == nil || f.Latest.Database != "bookmarks" || f.Database != "bookmarks" {
		t.Fatalf("latest for bookmarks: %+v, %v", f.Latest, f.LatestErr)
	}
	f = backup.GatherStatus(ctx, backup.StatusOptions{Store: st, SourceDatabase: "nosuch"})
	if f.Latest != nil || !errors.Is(f.LatestErr, backup.ErrNoSnapshot) {
		t.Fatalf("latest for a database without snapshots: %+v, %v", f.Latest, f.LatestErr)
	}
}
