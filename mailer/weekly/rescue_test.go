package weekly

import (
	"context"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
)

// TestLivenessRescuesOnlyDeadClients: running jobs of a client whose liveness lock is
// held stay running; those of a client without one are handed back (available again,
// or discarded at their last attempt with the ledger row "failed").
func TestLivenessRescuesOnlyDeadClients(t *testing.T) {
	ctx := context.Background()
	gen := bookmarkgen.DefaultOptions()
	gen.Members, gen.LinksPerMember, gen.PremiumPercent, gen.OptInPercent, gen.Hostile = 6, 2, 100, 100, false
	s := setup(t, gen, false, nil)
	s.cfg.RescueInterval = 50 * time.Millisecond
	client, err := NewClient(s.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Enqueue(ctx, s.cfg, client, EnqueueOptions{Period: period}); err != nil {
		t.Fatal(err)
	}
	ids := s.memberIDs(t, 3)
	// Three jobs "running": one of a live client, two of a dead one (one at its last attempt).
	mark := func(member int64, client string, attempt int) {
		t.Helper()
		if _, err := s.cfg.State.Exec(ctx, `UPDATE linkbackup_mail.river_job SET state = 'running', attempt = $3,
  attempted_at = now(), attempted_by = ARRAY[$2::text] WHERE (args->>'member_id')::bigint = $1`, member, client, attempt); err != nil {
			t.Fatal(err)
		}
		if _, err := s.cfg.State.Exec(ctx, `UPDATE linkbackup_mail.weekly_ledger SET state = 'sending', attempts = $2 WHERE member_id = $1`, member, attempt); err != nil {
			t.Fatal(err)
		}
	}
	mark(ids[0], "alive_1", 1)
	mark(ids[1], "dead_2", 1)
	mark(ids[2], "dead_2", s.cfg.MaxAttempts)
	alive, err := Live(ctx, s.cfg, "alive_1")
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	if _, err := Live(ctx, s.cfg, "alive_1"); err == nil {
		t.Fatal("a second liveness lock for the same client id was granted")
	}
	rescuer, err := Live(ctx, s.cfg, "rescuer_3")
	if err != nil {
		t.Fatal(err)
	}
	defer rescuer.Close()
	state := func(member int64) (job, ledger string) {
		t.Helper()
		if err := s.cfg.State.QueryRow(ctx, `SELECT j.state::text, l.state FROM linkbackup_mail.river_job j
  JOIN linkbackup_mail.weekly_ledger l ON l.member_id = (j.args->>'member_id')::bigint AND l.period = j.args->>'period'
  WHERE (j.args->>'member_id')::bigint = $1`, member).Scan(&job, &ledger); err != nil {
			t.Fatal(err)
		}
		return job, ledger
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j1, _ := state(ids[1])
		j2, l2 := state(ids[2])
		if j1 == "available" && j2 == "discarded" && l2 == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead client's jobs: %s and %s (ledger %s), want available and discarded (ledger failed)", j1, j2, l2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few more passes
	if j0, l0 := state(ids[0]); j0 != "running" || l0 != "sending" {
		t.Fatalf("live client's job: %s (ledger %s), want running (sending)", j0, l0)
	}
	// Once the live client's lock is released, its job is handed back too.
	alive.Close()
	waitState(t, func() bool { j0, _ := state(ids[0]); return j0 == "available" })
}

func waitState(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
