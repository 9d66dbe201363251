package backup_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/member"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// refreshOnce backs src up and refreshes a fresh standby name from it with drill.
func refreshOnce(t *testing.T, src string, drill backup.DrillOptions) (*backup.StandbyRecord, string, string, error) {
	t.Helper()
	st := fileStore(t)
	m, err := backup.Backup(context.Background(), opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	server, name := drillServer(t)
	o := standbyOpts(t, st, m.ID, server, name)
	o.Drill = drill
	rec, err := backup.RefreshStandby(context.Background(), o)
	return rec, server, name, err
}

// seedViolations breaks every reference invariant but deleted_member_mailed on src:
// a link filed into another member's folder, a folder under another member's folder,
// and two folders of one member that are each other's parent (src needs 20 links per
// member: two folders). It returns the ids.
func seedViolations(t *testing.T, src string) (link, folder int64, cycle []string) {
	t.Helper()
	c := connect(t, src)
	ctx := context.Background()
	if err := c.QueryRow(ctx, `UPDATE links SET folder_id = (SELECT min(f.id) FROM folders f WHERE f.member_id <> links.member_id)
		WHERE id = (SELECT max(id) FROM links) RETURNING id`).Scan(&link); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, `UPDATE folders SET parent_id = (SELECT min(p.id) FROM folders p WHERE p.member_id <> folders.member_id)
		WHERE id = (SELECT max(id) FROM folders) RETURNING id`).Scan(&folder); err != nil {
		t.Fatal(err)
	}
	var a, b int64
	if err := c.QueryRow(ctx, `SELECT min(id), max(id) FROM folders WHERE member_id <> (SELECT member_id FROM folders WHERE id = $1)
		GROUP BY member_id HAVING count(*) >= 2 ORDER BY member_id LIMIT 1`, folder).Scan(&a, &b); err != nil {
		t.Fatalf("a member with two folders: %v", err)
	}
	mustExec(t, c, `UPDATE folders SET parent_id = CASE id WHEN $1::bigint THEN $2::bigint ELSE $1::bigint END WHERE id IN ($1, $2)`, a, b)
	return link, folder, []string{itoa(a), itoa(b)}
}

// TestInvariantInRestoreSameResults: the reference invariants read only tables the
// restore loads, so they run inside its step graph; on a copy seeded with violations
// they find what the same checks find after the restore (CheckDatabase on the served
// copy): the same counts, sample ids and levels.
func TestInvariantInRestoreSameResults(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 8, 20)
	link, folder, cycle := seedViolations(t, src)
	drill := backup.DrillOptions{Defaults: member.ReferenceInvariants}
	rec, server, name, err := refreshOnce(t, src, drill)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Invariants) != 4 {
		t.Fatalf("invariants: %+v", rec.Invariants)
	}
	for _, r := range rec.Invariants {
		if !r.InRestore {
			t.Errorf("%s ran after the restore: %+v", r.Name, r)
		}
	}
	for inv, want := range map[string][]string{"link_in_foreign_folder": {itoa(link)}, "folder_parent_foreign": {itoa(folder)}, "folder_cycle": cycle} {
		if r := result(t, rec.Invariants, inv); r.Level != backup.InvariantWarning || !slices.Equal(r.SampleIDs, want) || r.Violations != int64(len(want)) {
			t.Errorf("%s: %+v, want warning with ids %v", inv, r, want)
		}
	}
	after, err := backup.CheckDatabase(context.Background(), testenv.WithDatabase(t, server, name), drill, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(rec.Invariants) {
		t.Fatalf("after the restore: %+v", after)
	}
	for i, a := range after {
		r := rec.Invariants[i]
		if a.InRestore || a.Name != r.Name || a.Violations != r.Violations || a.Level != r.Level || !slices.Equal(a.SampleIDs, r.SampleIDs) || a.Error != r.Error {
			t.Errorf("in the restore %+v, after it %+v", r, a)
		}
	}
}

// TestInvariantAfterRestoreMatViewSequence: invariants reading a materialized view (refreshed
// after the graph), a sequence (set after it) or a sequence through a function run after
// the restore and see the finished copy; one over a table still runs in the restore, and
// the results keep the configured order.
func TestInvariantAfterRestoreMatViewSequence(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 6, 10)
	c := connect(t, src)
	mustExec(t, c, `CREATE MATERIALIZED VIEW member_link_counts AS SELECT member_id, count(*) AS n FROM links GROUP BY member_id`)
	var members int64
	if err := c.QueryRow(context.Background(), `SELECT count(DISTINCT member_id) FROM links`).Scan(&members); err != nil || members == 0 {
		t.Fatalf("members with links: %d %v", members, err)
	}
	invs := []backup.Invariant{
		{Name: "matview", SQL: "SELECT member_id FROM member_link_counts"},
		{Name: "in_graph", SQL: "SELECT id FROM links WHERE folder_id = -1"},
		{Name: "sequence", SQL: "SELECT last_value FROM links_id_seq WHERE last_value < (SELECT max(id) FROM links)"},
		{Name: "sequence_function", SQL: "SELECT 1 WHERE coalesce(pg_sequence_last_value('links_id_seq'), 0) < (SELECT max(id) FROM links)"},
	}
	rec, _, _, err := refreshOnce(t, src, backup.DrillOptions{Invariants: invs})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rec.Invariants {
		names = append(names, r.Name)
		if r.InRestore != (r.Name == "in_graph") {
			t.Errorf("%s: in the restore %v", r.Name, r.InRestore)
		}
	}
	if !slices.Equal(names, []string{"matview", "in_graph", "sequence", "sequence_function"}) {
		t.Fatalf("order: %v", names)
	}
	if r := result(t, rec.Invariants, "matview"); r.Level != backup.InvariantWarning || r.Violations != members {
		t.Errorf("matview: %+v, want %d rows", r, members)
	}
	for _, n := range []string{"in_graph", "sequence", "sequence_function"} {
		if r := result(t, rec.Invariants, n); r.Level != backup.InvariantOK {
			t.Errorf("%s: %+v", n, r)
		}
	}
}

// TestInvariantAfterRestoreWithFunction: a PL/pgSQL function in the database could read
// tables a plan does not show, so every invariant runs after the restore, with the
// same findings.
func TestInvariantAfterRestoreWithFunction(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 5, 20)
	link, _, _ := seedViolations(t, src)
	mustExec(t, connect(t, src), `CREATE FUNCTION public.link_count(m bigint) RETURNS bigint LANGUAGE plpgsql STABLE
		AS $$ BEGIN RETURN (SELECT count(*) FROM public.links WHERE member_id = m); END $$`)
	rec, _, _, err := refreshOnce(t, src, backup.DrillOptions{Defaults: member.ReferenceInvariants})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Invariants) != 4 {
		t.Fatalf("invariants: %+v", rec.Invariants)
	}
	for _, r := range rec.Invariants {
		if r.InRestore {
			t.Errorf("%s ran in the restore", r.Name)
		}
	}
	if r := result(t, rec.Invariants, "link_in_foreign_folder"); r.Violations != 1 || !slices.Equal(r.SampleIDs, []string{itoa(link)}) {
		t.Errorf("link_in_foreign_folder: %+v", r)
	}
}

// TestInvariantInvalidBeforeData: an invariant that does not parse is ErrInvalidInvariant
// found before any data is loaded; the standby keeps serving its previous copy.
func TestInvariantInvalidBeforeData(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 3, 5)
	st := fileStore(t)
	ctx := context.Background()
	m1, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	server, name := drillServer(t)
	o := standbyOpts(t, st, m1.ID, server, name)
	o.Drill = backup.DrillOptions{Defaults: member.ReferenceInvariants}
	if _, err := backup.RefreshStandby(ctx, o); err != nil {
		t.Fatal(err)
	}
	mustExec(t, connect(t, src), `INSERT INTO links (member_id, url) VALUES (1, 'https://night2.example/')`)
	m2, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	o = standbyOpts(t, st, m2.ID, server, name)
	o.Progress = &backup.Progress{}
	o.Drill = backup.DrillOptions{Invariants: []backup.Invariant{
		{Name: "fine", SQL: "SELECT id FROM links WHERE false"},
		{Name: "typo", SQL: "SELECT id FROM linkz"},
	}}
	_, err = backup.RefreshStandby(ctx, o)
	if !errors.Is(err, backup.ErrInvalidInvariant) || !strings.Contains(err.Error(), `"typo"`) || strings.Contains(err.Error(), `"fine"`) ||
		!strings.Contains(err.Error(), "keeps serving its previous copy") {
		t.Fatalf("invalid invariant: %v", err)
	}
	if n := o.Progress.ChunksDone.Load(); n != 0 {
		t.Fatalf("%d chunks were loaded before the invalid invariant was found", n)
	}
	served, err := backup.ReadStandbyRecord(ctx, server, name)
	if err != nil || served.Snapshot != m1.ID {
		t.Fatalf("serving: %+v, %v (want %s)", served, err, m1.ID)
	}
	if databaseExists(t, server, name+backup.IncomingSuffix) {
		t.Fatal("the side database was left behind")
	}
	if n := servingLinks(t, server, name); n != 15 {
		t.Fatalf("serving copy has %d links, want night 1's 15", n)
	}
}

// TestInvariantTimeLimitInRestore: a check in the restore that hits its time limit is
// failed and keeps the copy from being served, as after the restore.
func TestInvariantTimeLimitInRestore(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 3, 5)
	_, server, name, err := refreshOnce(t, src, backup.DrillOptions{Invariants: []backup.Invariant{
		{Name: "fast", SQL: "SELECT id FROM links WHERE false"},
		{Name: "slow", SQL: "SELECT l.id FROM links l, pg_sleep(5) s", Timeout: 300 * time.Millisecond},
	}})
	var ie *backup.InvariantsError
	if !errors.As(err, &ie) || !errors.Is(err, backup.ErrInvariant) {
		t.Fatalf("slow invariant: %v", err)
	}
	if r := result(t, ie.Results, "slow"); r.Level != backup.InvariantFailed || !strings.Contains(r.Error, "time limit") || !r.InRestore ||
		r.Millis < 300 || r.Millis >= 5000 {
		t.Fatalf("slow: %+v (want failed in the restore at its 300ms limit)", r)
	}
	if r := result(t, ie.Results, "fast"); r.Level != backup.InvariantOK || !r.InRestore {
		t.Fatalf("fast: %+v", r)
	}
	if databaseExists(t, server, name) || databaseExists(t, server, name+backup.IncomingSuffix) {
		t.Fatal("a copy with a failed invariant was served or left behind")
	}
}
