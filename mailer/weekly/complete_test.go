package weekly

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
)

// TestCompletionMatchesRiver pins the worker's completion statement (sent.go) to
// River's: on a running job it changes the same columns to the same state as the
// statement river.JobCompleteTx runs (the driver's JobSetStateIfRunningMany with
// JobSetStateCompleted), and it leaves a job that is not running alone, as River's
// does. A River upgrade that changes what completing a job means fails here.
func TestCompletionMatchesRiver(t *testing.T) {
	ctx := context.Background()
	gen := bookmarkgen.DefaultOptions()
	gen.Members, gen.LinksPerMember = 5, 2
	s := setup(t, gen, false, nil)
	client, err := NewClient(s.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for m := int64(1); m <= 3; m++ {
		res, err := client.Insert(ctx, Args{MemberID: m, Period: period}, &river.InsertOpts{Queue: Queue})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Job.ID)
	}
	jobs := pgx.Identifier{s.cfg.Schema, "river_job"}.Sanitize()
	// Jobs 0 and 1 are running (as River's fetch leaves them); job 2 stays available.
	if _, err := s.cfg.State.Exec(ctx, `UPDATE `+jobs+` SET state = 'running', attempt = 1, attempted_at = now(),
  attempted_by = ARRAY['test'] WHERE id = ANY($1)`, ids[:2]); err != nil {
		t.Fatal(err)
	}
	snapshot := func(id int64) map[string]any {
		var row map[string]any
		if err := s.cfg.State.QueryRow(ctx, `SELECT to_jsonb(j) FROM `+jobs+` j WHERE id = $1`, id).Scan(&row); err != nil {
			t.Fatal(err)
		}
		return row
	}
	changed := func(before, after map[string]any) []string {
		var keys []string
		for k := range after {
			if !equalJSON(before[k], after[k]) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return keys
	}
	before := []map[string]any{snapshot(ids[0]), snapshot(ids[1]), snapshot(ids[2])}

	exec := riverpgxv5.New(s.cfg.State).GetExecutor()
	p := riverdriver.JobSetStateCompleted(ids[0], time.Now(), nil)
	if _, err := exec.JobSetStateIfRunningMany(ctx, &riverdriver.JobSetStateIfRunningManyParams{
		ID: []int64{p.ID}, Attempt: []*int{p.Attempt}, ErrData: [][]byte{p.ErrData}, FinalizedAt: []*time.Time{p.FinalizedAt},
		MetadataDoMerge: []bool{false}, MetadataUpdates: [][]byte{nil}, ScheduledAt: []*time.Time{p.ScheduledAt},
		Schema: s.cfg.Schema, State: []rivertype.JobState{p.State},
	}); err != nil {
		t.Fatal(err)
	}
	w := &worker{cfg: s.cfg}
	w.prepare()
	for _, id := range ids[1:] {
		tag, err := s.cfg.State.Exec(ctx, w.completeSQL, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(map[bool]int{true: 1, false: 0}[id == ids[1]]); tag.RowsAffected() != want {
			t.Fatalf("job %d: completion touched %d rows, want %d", id, tag.RowsAffected(), want)
		}
	}
	after := []map[string]any{snapshot(ids[0]), snapshot(ids[1]), snapshot(ids[2])}

	theirs, ours := changed(before[0], after[0]), changed(before[1], after[1])
	if !slices.Equal(theirs, ours) {
		t.Fatalf("River's completion changed %v, ours %v", theirs, ours)
	}
	if !slices.Contains(ours, "state") || !slices.Contains(ours, "finalized_at") {
		t.Fatalf("completion changed %v, want at least state and finalized_at", ours)
	}
	for _, k := range ours {
		if k == "finalized_at" {
			continue
		}
		if !equalJSON(after[0][k], after[1][k]) {
			t.Errorf("%s: River's completion set %v, ours %v", k, after[0][k], after[1][k])
		}
	}
	if after[1]["state"] != "completed" || after[1]["finalized_at"] == nil {
		t.Fatalf("ours left state %v, finalized_at %v", after[1]["state"], after[1]["finalized_at"])
	}
	if c := changed(before[2], after[2]); len(c) != 0 {
		t.Fatalf("ours changed %v of a job that was not running", c)
	}
}

// equalJSON compares two values decoded from JSON.
func equalJSON(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		return maps.EqualFunc(am, bm, equalJSON)
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		return slices.EqualFunc(as, bs, equalJSON)
	}
	return a == b
}
