package backup_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestWALPointNeedsLogicalWAL: on a source with wal_level = replica (the test stack's
// primary) a backup in auto mode succeeds without a WAL point, and with
// backup.wal_point = required it fails, saying what to change, and stores nothing.
func TestWALPointNeedsLogicalWAL(t *testing.T) {
	dsn := bookmarkDB(t, 3, 4)
	st := fileStore(t)
	ctx := context.Background()
	m, err := backup.Backup(ctx, opts(t, dsn, st))
	if err != nil || m.WALPoint != nil {
		t.Fatalf("auto on wal_level = replica: %v, wal point %+v", err, m.WALPoint)
	}
	o := opts(t, dsn, st)
	o.WALPoint = backup.WALPointRequired
	if _, err := backup.Backup(ctx, o); err == nil || !strings.Contains(err.Error(), "wal_level = logical") {
		t.Fatalf("required on wal_level = replica: %v", err)
	}
	if ids, _ := backup.SnapshotIDs(ctx, st); len(ids) != 1 {
		t.Fatalf("%d snapshots after the refused backup, want 1", len(ids))
	}
}

// TestWALPointWaitIsBounded: on a wal_level = logical source, a transaction that holds a
// transaction id keeps the slot from becoming consistent. The backup waits at most
// backup.wal_point_timeout: in auto mode it goes on without a WAL point (and its data
// is still one consistent snapshot), with required it fails naming the timeout; after
// the transaction ends the point is recorded.
func TestWALPointWaitIsBounded(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	admin := connect(t, pg.DSN)
	mustExec(t, admin, "ALTER SYSTEM SET wal_level = logical")
	admin.Close(ctx)
	pg.Restart(t)
	c := connect(t, pg.DSN)
	mustExec(t, c, "CREATE TABLE t (id int PRIMARY KEY)")
	mustExec(t, c, "INSERT INTO t SELECT generate_series(1, 100)")
	holder, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (1000)"); err != nil { // takes an xid
		t.Fatal(err)
	}
	st := fileStore(t)
	o := opts(t, pg.DSN, st)
	o.WALPointTimeout = 2 * time.Second
	t0 := time.Now()
	m, err := backup.Backup(ctx, o)
	if err != nil || m.WALPoint != nil || time.Since(t0) > time.Minute {
		t.Fatalf("auto with a running transaction: %v, point %+v after %s", err, m.WALPoint, time.Since(t0))
	}
	if m.Tables[0].Rows != 100 {
		t.Fatalf("rows %d, want 100 (the open transaction's row is not committed)", m.Tables[0].Rows)
	}
	o.WALPoint = backup.WALPointRequired
	if _, err := backup.Backup(ctx, o); err == nil || !strings.Contains(err.Error(), "wal_point_timeout") {
		t.Fatalf("required with a running transaction: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	m, err = backup.Backup(ctx, o)
	if err != nil || m.WALPoint == nil || m.WALPoint.LSN == "" || m.WALPoint.Timeline != 1 || m.WALPoint.SwitchLSN == "" {
		t.Fatalf("required once the transaction ended: %v, point %+v", err, m.WALPoint)
	}
	if m.Tables[0].Rows != 101 {
		t.Fatalf("rows %d, want 101", m.Tables[0].Rows)
	}
	// The slot was temporary: none is left behind.
	var slots int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots").Scan(&slots); err != nil || slots != 0 {
		t.Fatalf("%d replication slots left (%v)", slots, err)
	}
}

// TestBaseBackupGivesUpWhenArchivingFails: pg_basebackup -X none waits until the WAL it
// needs is archived; with an archive_command that always fails, BaseBackup gives up
// after ArchiveFailTimeout with an error that says so, and leaves no base backup.
func TestBaseBackupGivesUpWhenArchivingFails(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	admin := connect(t, pg.DSN)
	mustExec(t, admin, "ALTER SYSTEM SET archive_mode = on")
	mustExec(t, admin, "ALTER SYSTEM SET archive_command = 'false'")
	admin.Close(ctx)
	pg.Restart(t)
	st := fileStore(t)
	t0 := time.Now()
	_, err := backup.BaseBackup(ctx, backup.BaseOptions{Source: pg.DSN, Store: st, ArchiveFailTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "archive_command keeps failing") || time.Since(t0) > 2*time.Minute {
		t.Fatalf("base backup with failing archiving: %v after %s", err, time.Since(t0))
	}
	if bases, err := backup.ListBaseBackups(ctx, st); err != nil || len(bases) != 0 {
		t.Fatalf("base backups left: %v %v", bases, err)
	}
	if objs, _ := st.List(ctx, backup.BasePrefix); len(objs) != 0 {
		t.Fatalf("objects left under base/: %v", objs)
	}
}
