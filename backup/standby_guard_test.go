package backup_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// dbExists tells whether database name exists on the server.
func dbExists(t *testing.T, server, name string) bool {
	t.Helper()
	var ok bool
	if err := connect(t, server).QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// connectApp opens a session to database name as application app.
func connectApp(t *testing.T, server, name, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(testenv.WithDatabase(t, server, name))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestStandbySwapNeverDropsACopyInUse: the swap drops <db>__previous and a leftover
// <db>__incoming only when they carry linkbackup's mark and nobody but linkbackup is on
// them. An operator serving from __previous (failover) keeps it: the refresh fails
// (not a safety-rail refusal: exit 1), the serving copy is untouched, and status is
// CRITICAL naming the sessions' user and application.
func TestStandbySwapNeverDropsACopyInUse(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 5, 5)
	st := fileStore(t)
	ctx := context.Background()
	server := testenv.StandbyDSN(t)
	name := strings.ReplaceAll(testenv.UniqueName("sg"), "-", "_")
	previous, incoming := name+backup.PreviousSuffix, name+backup.IncomingSuffix
	t.Cleanup(func() {
		c := connect(t, server)
		for _, n := range []string{name, previous, incoming} {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	night := func() *backup.Manifest {
		t.Helper()
		m, err := backup.Backup(ctx, opts(t, src, st))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1 := night()
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m1.ID, server, name)); err != nil {
		t.Fatal(err)
	}
	m2 := night()
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m2.ID, server, name)); err != nil {
		t.Fatal(err)
	}
	serving := func(stage, want string) {
		t.Helper()
		rec, err := backup.ReadStandbyRecord(ctx, server, name)
		if err != nil || rec.Snapshot != want {
			t.Fatalf("%s: serving %+v, %v; want snapshot %s", stage, rec, err, want)
		}
	}

	// Failover onto __previous: an application works on it.
	app := connectApp(t, server, previous, "failover-app")
	mustExec(t, app, "INSERT INTO links (member_id, url) VALUES (1, 'https://served-from-previous.example/')")
	m3 := night()
	_, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m3.ID, server, name))
	if err == nil || errors.Is(err, backup.ErrRefused) || !errors.Is(err, backup.ErrInUse) ||
		!strings.Contains(err.Error(), "failover-app") || !strings.Contains(err.Error(), "postgres") {
		t.Fatalf("refresh with a session on %s: %v; want ErrInUse naming the user and application", previous, err)
	}
	if err := app.Ping(ctx); err != nil {
		t.Fatalf("the session on %s was terminated: %v", previous, err)
	}
	serving("refused for a session on __previous", m2.ID)
	if dbExists(t, server, incoming) {
		t.Fatal("the side database was left behind")
	}
	rep := backup.CheckStatus(ctx, backup.StatusOptions{Store: st, StoreName: "test", StandbyServer: server, Database: name},
		backup.StatusThresholds{SnapshotWarn: time.Hour, SnapshotCrit: time.Hour, StandbyWarn: time.Hour, StandbyCrit: time.Hour})
	if rep.Code != backup.LevelCritical || !strings.Contains(rep.Summary, "failover-app") {
		t.Fatalf("status: %s %s; want CRITICAL naming failover-app", rep.State, rep.Summary)
	}

	// The operator's fallback copy loses its mark (docs/operations.md): never dropped,
	// even without sessions.
	mustExec(t, app, `DO $$ BEGIN EXECUTE format('COMMENT ON DATABASE %I IS NULL', current_database()); END $$`)
	app.Close(ctx)
	_, err = backup.RefreshStandby(ctx, standbyOpts(t, st, m3.ID, server, name))
	if !errors.Is(err, backup.ErrRefused) || !strings.Contains(err.Error(), previous) {
		t.Fatalf("refresh over an unmarked %s: %v", previous, err)
	}
	if !dbExists(t, server, previous) {
		t.Fatalf("unmarked %s was dropped", previous)
	}
	serving("refused for an unmarked __previous", m2.ID)
	mustExec(t, connect(t, server), `DROP DATABASE "`+previous+`"`)

	// A leftover __incoming without the incoming mark is never dropped.
	mustExec(t, connect(t, server), `CREATE DATABASE "`+incoming+`"`)
	inc := connect(t, testenv.WithDatabase(t, server, incoming))
	mustExec(t, inc, "CREATE TABLE keep_me (x int)")
	inc.Close(ctx)
	_, err = backup.RefreshStandby(ctx, standbyOpts(t, st, m3.ID, server, name))
	if !errors.Is(err, backup.ErrRefused) || !strings.Contains(err.Error(), incoming) {
		t.Fatalf("refresh over an unmarked %s: %v", incoming, err)
	}
	var n int
	inc = connect(t, testenv.WithDatabase(t, server, incoming))
	if err := inc.QueryRow(ctx, "SELECT count(*) FROM keep_me").Scan(&n); err != nil {
		t.Fatalf("unmarked %s was dropped or changed: %v", incoming, err)
	}
	inc.Close(ctx)
	serving("refused for an unmarked __incoming", m2.ID)

	// Marked as linkbackup's but with a session on it: not dropped either.
	mustExec(t, connect(t, server), `COMMENT ON DATABASE "`+incoming+`" IS 'linkbackup:incoming snapshot=x started=y'`)
	held := connectApp(t, server, incoming, "someone-on-incoming")
	_, err = backup.RefreshStandby(ctx, standbyOpts(t, st, m3.ID, server, name))
	if !errors.Is(err, backup.ErrInUse) || !strings.Contains(err.Error(), "someone-on-incoming") {
		t.Fatalf("refresh over a used %s: %v", incoming, err)
	}
	if err := held.Ping(ctx); err != nil {
		t.Fatalf("the session on %s was terminated: %v", incoming, err)
	}
	held.Close(ctx)

	// Marked and unused: the leftover goes and the night goes through.
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m3.ID, server, name)); err != nil {
		t.Fatal(err)
	}
	serving("good night", m3.ID)
	prev, err := backup.ReadStandbyRecord(ctx, server, previous)
	if err != nil || prev.Snapshot != m2.ID {
		t.Fatalf("previous: %+v, %v", prev, err)
	}
}
