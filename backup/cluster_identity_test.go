package backup_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// roleDSN creates a login role on the cluster behind server (dropped at test end, after
// the databases) and returns a DSN for it on database db.
func roleDSN(t *testing.T, server, role, attrs, db string) string {
	t.Helper()
	mustExec(t, connect(t, server), "CREATE ROLE "+role+" LOGIN PASSWORD 'pw' "+attrs)
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		t.Fatal(err)
	}
	return (&url.URL{Scheme: "postgres", User: url.UserPassword(role, "pw"), Host: cfg.Host + ":" + strconv.Itoa(int(cfg.Port)),
		Path: "/" + db, RawQuery: "sslmode=disable"}).String()
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// TestClusterChecksFailClosed: when the cluster identity cannot be compared
// (pg_control_system() not readable by the role, or a snapshot without it), restore
// into a database of the snapshot's name and a standby refresh refuse unless
// ForceSameCluster.
func TestClusterChecksFailClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	server := testenv.StandbyDSN(t)
	role := strings.ReplaceAll(testenv.UniqueName("lbnoctl"), "-", "_")
	t.Cleanup(func() {
		c := connect(t, server)
		c.Exec(context.Background(), "DROP OWNED BY "+role)
		c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
	})
	src := bookmarkDB(t, 5, 5)
	st := fileStore(t)
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	dst := testenv.NewDatabase(t, server)
	name := dbName(t, dst)
	rdsn := roleDSN(t, server, role, "CREATEDB", name)
	mustExec(t, connect(t, dst), "ALTER DATABASE "+name+" OWNER TO "+role+"; ALTER SCHEMA public OWNER TO "+role+
		"; REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")

	// The snapshot claims to come from a database of the target's name.
	same := *m
	same.ID, same.Database = "20990101T000000.000Z", name
	if err := backup.WriteManifest(ctx, st, &same); err != nil {
		t.Fatal(err)
	}
	ro := backup.RestoreOptions{Store: st, ID: same.ID, Target: rdsn, NoOwner: true, Log: testLog(t)}
	var fe *backup.FixableError
	if _, err := backup.Restore(ctx, ro); !errors.Is(err, backup.ErrRefused) || !errors.As(err, &fe) ||
		fe.Fix != backup.FixUnknownCluster || !strings.Contains(err.Error(), "pg_control_system") {
		t.Fatalf("restore with the target's identity unreadable: %v", err)
	}
	// A snapshot without the source's identity, into a database of its name.
	blind := same
	blind.ID, blind.Server.SystemIdentifier = "20990102T000000.000Z", ""
	if err := backup.WriteManifest(ctx, st, &blind); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: blind.ID, Target: dst, Log: testLog(t)}); !errors.Is(err, backup.ErrRefused) {
		t.Fatalf("restore of a snapshot without its source's identity: %v", err)
	}
	ro.ForceSameCluster = true
	if _, err := backup.Restore(ctx, ro); err != nil {
		t.Fatalf("restore with ForceSameCluster: %v", err)
	}

	// Standby: the maintenance database is one where the role cannot read pg_control.
	sbName := strings.ReplaceAll(testenv.UniqueName("sbctl"), "-", "_")
	so := standbyOpts(t, st, m.ID, rdsn, sbName)
	so.NoOwner = true
	if _, err := backup.RefreshStandby(ctx, so); !errors.Is(err, backup.ErrRefused) || !errors.As(err, &fe) || fe.Fix != backup.FixUnknownCluster {
		t.Fatalf("standby with its identity unreadable: %v", err)
	}
	if dbExists(t, server, sbName+backup.IncomingSuffix) {
		t.Fatal("a refused refresh created the side database")
	}
}
