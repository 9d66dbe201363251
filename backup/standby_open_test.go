package backup_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

var openTh = backup.StatusThresholds{SnapshotWarn: time.Hour, SnapshotCrit: time.Hour, StandbyWarn: time.Hour, StandbyCrit: time.Hour}

// TestStatusChecksServingCopyAcceptsConnections: a swap interrupted after it closed the
// old copy leaves the serving copy with ALLOW_CONNECTIONS false. status is CRITICAL
// (also when datallowconn is true but a session cannot open); RepairStandby, and the
// next refresh even when it fails, reopen it.
func TestStatusChecksServingCopyAcceptsConnections(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 5, 5)
	st := fileStore(t)
	ctx := context.Background()
	server := testenv.StandbyDSN(t)
	name := strings.ReplaceAll(testenv.UniqueName("so"), "-", "_")
	t.Cleanup(func() {
		c := connect(t, server)
		for _, n := range []string{name, name + backup.PreviousSuffix, name + backup.IncomingSuffix} {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m.ID, server, name)); err != nil {
		t.Fatal(err)
	}
	status := func(srv string) *backup.StatusReport {
		return backup.CheckStatus(ctx, backup.StatusOptions{Store: st, StoreName: "test", StandbyServer: srv, Database: name}, openTh)
	}
	if r := status(server); r.Code != backup.LevelOK {
		t.Fatalf("status after a good night: %s %s", r.State, r.Summary)
	}
	closeIt := func() { mustExec(t, connect(t, server), `ALTER DATABASE "`+name+`" WITH ALLOW_CONNECTIONS false`) }

	// An interrupted swap: the serving copy refuses new sessions.
	closeIt()
	if r := status(server); r.Code != backup.LevelCritical || !strings.Contains(r.Summary, "does not accept connections") {
		t.Fatalf("status with the serving copy closed: %s %s; want CRITICAL", r.State, r.Summary)
	}
	reopened, err := backup.RepairStandby(ctx, server, name, testLog(t))
	if err != nil || len(reopened) != 1 || reopened[0] != name {
		t.Fatalf("RepairStandby: %v, %v", reopened, err)
	}
	if r := status(server); r.Code != backup.LevelOK {
		t.Fatalf("status after the repair: %s %s", r.State, r.Summary)
	}
	if again, err := backup.RepairStandby(ctx, server, name, testLog(t)); err != nil || len(again) != 0 {
		t.Fatalf("RepairStandby with nothing to do: %v, %v", again, err)
	}

	// The next refresh reopens it first, even when the refresh itself then fails.
	closeIt()
	bad := *m
	bad.ID = "20991231T000000.000Z"
	bad.Tables = append([]backup.Table{}, m.Tables...)
	bad.Tables[0].Digest = "0123456789abcdef0123456789abcdef"
	if err := backup.WriteManifest(ctx, st, &bad); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, bad.ID, server, name)); !errors.Is(err, backup.ErrMismatch) {
		t.Fatalf("refresh of a bad snapshot: %v", err)
	}
	if n := servingLinks(t, server, name); n != 25 {
		t.Fatalf("serving copy after the failed refresh: %d links", n)
	}
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m.ID, server, name)); err != nil {
		t.Fatal(err)
	}

	// datallowconn is true, but the monitoring role may not connect: CRITICAL too.
	role := strings.ReplaceAll(testenv.UniqueName("lbmon"), "-", "_")
	admin := connect(t, server)
	mustExec(t, admin, "CREATE ROLE "+role+" LOGIN PASSWORD 'pw'")
	t.Cleanup(func() { connect(t, server).Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	mustExec(t, admin, `REVOKE CONNECT ON DATABASE "`+name+`" FROM PUBLIC`)
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		t.Fatal(err)
	}
	mon := (&url.URL{Scheme: "postgres", User: url.UserPassword(role, "pw"), Host: cfg.Host + ":" + strconv.Itoa(int(cfg.Port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	if r := status(mon); r.Code != backup.LevelCritical || !strings.Contains(r.Summary, "a session to it fails") {
		t.Fatalf("status when a session cannot open: %s %s; want CRITICAL", r.State, r.Summary)
	}
	mustExec(t, admin, `GRANT CONNECT ON DATABASE "`+name+`" TO PUBLIC`)
	if r := status(mon); r.Code != backup.LevelOK {
		t.Fatalf("status after GRANT CONNECT: %s %s", r.State, r.Summary)
	}
}
