package backup_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/member"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// drillServer returns the standby server and a fresh serving name, dropped at the end.
func drillServer(t *testing.T) (string, string) {
	server := testenv.StandbyDSN(t)
	name := strings.ReplaceAll(testenv.UniqueName("inv"), "-", "_")
	t.Cleanup(func() {
		c := connect(t, server)
		for _, n := range []string{name, name + "__previous", name + "__incoming"} {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	return server, name
}

func databaseExists(t *testing.T, server, name string) bool {
	var ok bool
	if err := connect(t, server).QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func result(t *testing.T, rs []backup.InvariantResult, name string) backup.InvariantResult {
	t.Helper()
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result %q in %+v", name, rs)
	return backup.InvariantResult{}
}

// TestDrillInvariantGrowthRefusesTheSwap: night 1 swaps with the reference invariants
// recorded; an application bug then files a link into another member's folder; night 2
// is restored and proven but not served: ErrInvariant naming the check and the link's
// id, the serving copy still night 1's, no side database left, the attempt recorded.
func TestDrillInvariantGrowthRefusesTheSwap(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 8, 10)
	st := fileStore(t)
	ctx := context.Background()
	server, name := drillServer(t)
	drill := backup.DrillOptions{Defaults: member.ReferenceInvariants, RowDropPercent: 20, RowDropMinRows: 10}
	night := func() (*backup.Manifest, *backup.StandbyRecord, error) {
		t.Helper()
		m, err := backup.Backup(ctx, opts(t, src, st))
		if err != nil {
			t.Fatal(err)
		}
		o := standbyOpts(t, st, m.ID, server, name)
		o.Drill = drill
		rec, err := backup.RefreshStandby(ctx, o)
		return m, rec, err
	}
	m1, rec1, err := night()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec1.Invariants) != 4 || result(t, rec1.Invariants, "link_in_foreign_folder").Level != backup.InvariantOK {
		t.Fatalf("night 1 invariants: %+v", rec1.Invariants)
	}
	if rec1.TableRows["public.links"] != 80 {
		t.Fatalf("table rows recorded: %v", rec1.TableRows)
	}

	c := connect(t, src)
	var linkID int64
	if err := c.QueryRow(ctx, `UPDATE links SET folder_id = (SELECT min(f.id) FROM folders f WHERE f.member_id <> links.member_id)
		WHERE id = (SELECT min(id) FROM links WHERE folder_id IS NOT NULL) RETURNING id`).Scan(&linkID); err != nil {
		t.Fatal(err)
	}
	_, rec2, err := night()
	var ie *backup.InvariantsError
	if !errors.Is(err, backup.ErrInvariant) || !errors.As(err, &ie) || rec2 != nil {
		t.Fatalf("night 2: rec %v, err %v", rec2, err)
	}
	bad := result(t, ie.Results, "link_in_foreign_folder")
	if bad.Level != backup.InvariantCritical || bad.Violations != 1 || bad.Previous == nil || *bad.Previous != 0 ||
		!slices.Equal(bad.SampleIDs, []string{itoa(linkID)}) {
		t.Fatalf("link_in_foreign_folder: %+v", bad)
	}
	if !strings.Contains(err.Error(), "link_in_foreign_folder") || !strings.Contains(err.Error(), itoa(linkID)) {
		t.Fatalf("error names neither the invariant nor the row: %v", err)
	}
	served, err := backup.ReadStandbyRecord(ctx, server, name)
	if err != nil || served.Snapshot != m1.ID {
		t.Fatalf("serving after the refusal: %+v, %v (want night 1 %s)", served, err, m1.ID)
	}
	if databaseExists(t, server, name+backup.IncomingSuffix) {
		t.Fatal("the refused copy was left behind")
	}
	att, err := backup.ReadStandbyAttempt(ctx, st, name)
	if err != nil || att.OK || result(t, att.Invariants, "link_in_foreign_folder").Level != backup.InvariantCritical {
		t.Fatalf("attempt record: %+v, %v", att, err)
	}
	// Status is CRITICAL and names the invariant and the row id.
	rep := backup.CheckStatus(ctx, backup.StatusOptions{Store: st, StoreName: "test", StandbyServer: server, Database: name}, statusThresholds())
	if rep.Code != backup.LevelCritical || !strings.Contains(rep.Summary, "link_in_foreign_folder") || !strings.Contains(rep.Summary, itoa(linkID)) {
		t.Fatalf("status: %s %s", rep.State, rep.Summary)
	}

	// The application is fixed; a night later the copy is served again.
	mustExec(t, c, `UPDATE links SET folder_id = NULL WHERE id = $1`, linkID)
	if _, rec3, err := night(); err != nil || result(t, rec3.Invariants, "link_in_foreign_folder").Level != backup.InvariantOK {
		t.Fatalf("night 3: %+v, %v", rec3, err)
	}
	// Row drop: 30 % of the links vanish overnight.
	mustExec(t, c, `DELETE FROM links WHERE id % 10 < 3`)
	_, _, err = night()
	if !errors.As(err, &ie) || result(t, ie.Results, "row_drop public.links").Level != backup.InvariantCritical {
		t.Fatalf("row drop night: %v", err)
	}
}

// TestDrillInvariantWarningSwaps: a violation already present on the first copy (no
// baseline) and steady the next night is a warning: the swap happens, status WARNING.
func TestDrillInvariantWarningSwaps(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 6, 10)
	c := connect(t, src)
	mustExec(t, c, `UPDATE folders SET parent_id = (SELECT min(p.id) FROM folders p WHERE p.member_id <> folders.member_id)
		WHERE id = (SELECT max(id) FROM folders)`)
	st := fileStore(t)
	ctx := context.Background()
	server, name := drillServer(t)
	for night := 1; night <= 2; night++ {
		m, err := backup.Backup(ctx, opts(t, src, st))
		if err != nil {
			t.Fatal(err)
		}
		o := standbyOpts(t, st, m.ID, server, name)
		o.Drill = backup.DrillOptions{Defaults: member.ReferenceInvariants}
		rec, err := backup.RefreshStandby(ctx, o)
		if err != nil {
			t.Fatalf("night %d: %v", night, err)
		}
		if r := result(t, rec.Invariants, "folder_parent_foreign"); r.Level != backup.InvariantWarning || r.Violations != 1 {
			t.Fatalf("night %d: %+v", night, r)
		}
	}
	rep := backup.CheckStatus(ctx, backup.StatusOptions{Store: st, StoreName: "test", StandbyServer: server, Database: name}, statusThresholds())
	if rep.Code != backup.LevelWarning || !strings.Contains(rep.Summary, "folder_parent_foreign") {
		t.Fatalf("status: %s %s", rep.State, rep.Summary)
	}
}

// TestDrillInvariantTimeLimitAndBadSQL: a check that hits its time limit is failed (not
// passed) and refuses the swap; SQL that does not parse is ErrInvalidInvariant.
func TestDrillInvariantTimeLimitAndBadSQL(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 3, 5)
	st := fileStore(t)
	ctx := context.Background()
	m, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	server, name := drillServer(t)
	o := standbyOpts(t, st, m.ID, server, name)
	o.Drill = backup.DrillOptions{Invariants: []backup.Invariant{
		{Name: "fast", SQL: "SELECT id FROM links WHERE false"},
		{Name: "slow", SQL: "SELECT 1 FROM pg_sleep(5)", Timeout: 300 * time.Millisecond},
	}}
	_, err = backup.RefreshStandby(ctx, o)
	var ie *backup.InvariantsError
	if !errors.As(err, &ie) {
		t.Fatalf("slow invariant: %v", err)
	}
	if r := result(t, ie.Results, "slow"); r.Level != backup.InvariantFailed || !strings.Contains(r.Error, "time limit") || r.Millis >= 5000 {
		t.Fatalf("slow: %+v (want failed at its 300ms limit, before pg_sleep's 5s)", r)
	}
	if r := result(t, ie.Results, "fast"); r.Level != backup.InvariantOK {
		t.Fatalf("fast: %+v", r)
	}
	if databaseExists(t, server, name) {
		t.Fatal("a copy with a failed invariant was served")
	}
	o.Drill = backup.DrillOptions{Invariants: []backup.Invariant{{Name: "typo", SQL: "SELEC id FROM links"}}}
	if _, err := backup.RefreshStandby(ctx, o); !errors.Is(err, backup.ErrInvalidInvariant) || !strings.Contains(err.Error(), "typo") {
		t.Fatalf("bad SQL: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func statusThresholds() backup.StatusThresholds {
	return backup.StatusThresholds{SnapshotWarn: 25 * time.Hour, SnapshotCrit: 49 * time.Hour,
		StandbyWarn: 25 * time.Hour, StandbyCrit: 26 * time.Hour}
}
