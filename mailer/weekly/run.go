package weekly

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/mailer"
)

// EnqueueOptions select the members of a run.
type EnqueueOptions struct {
	Period   string
	MemberID int64 // 0: every member the member query selects
	// BatchSize is the number of members per transaction. Default 1000.
	BatchSize int
	// DryRun reads the selection and the ledger and changes nothing.
	DryRun bool
}

// EnqueueResult counts the selection.
type EnqueueResult struct {
	Selected    int // members the member query selects
	AlreadySent int // of those, with a "sent" ledger row for the period
	Enqueued    int // jobs inserted (others were pending already)
	Pending     int // selected, not sent, a job already pending (rerun while workers run)
}

// Enqueue inserts one job per selected member not yet sent for the period (see the
// package doc). Memory does not depend on the number of members.
func Enqueue(ctx context.Context, cfg *Config, client *Client, o EnqueueOptions) (EnqueueResult, error) {
	cfg.defaults()
	var res EnqueueResult
	if _, err := mailer.PeriodStart(o.Period); err != nil {
		return res, err
	}
	batch := o.BatchSize
	if batch <= 0 {
		batch = 1000
	}
	q := cfg.Queries.Members
	if q == "" {
		q = pgsource.DefaultMemberQuery
	}
	q = strings.TrimRight(strings.TrimSpace(q), "; \t\n")
	sel := `SELECT DISTINCT m.id::bigint FROM (` + q + `) AS m
WHERE m.id > $1 AND ($3::bigint = 0 OR m.id = $3::bigint) ORDER BY 1 LIMIT $2`
	ledgerExists := true
	if o.DryRun {
		var reg *string
		if err := cfg.State.QueryRow(ctx, `SELECT to_regclass($1)::text`, cfg.table()).Scan(&reg); err != nil {
			return res, fmt.Errorf("weekly: state: %w", err)
		}
		ledgerExists = reg != nil
	}
	after := int64(-1 << 63)
	ids := make([]int64, 0, batch)
	for {
		ids = ids[:0]
		rows, err := cfg.Source.Query(ctx, sel, after, batch, o.MemberID)
		if err != nil {
			return res, fmt.Errorf("weekly: select members: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return res, fmt.Errorf("weekly: select members: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("weekly: select members (export.member_query): %w", err)
		}
		if len(ids) == 0 {
			return res, nil
		}
		res.Selected += len(ids)
		after = ids[len(ids)-1]
		if o.DryRun {
			if ledgerExists {
				var n int
				if err := cfg.State.QueryRow(ctx, `SELECT count(*) FROM `+cfg.table()+` WHERE period = $1 AND member_id = ANY($2) AND state = 'sent'`,
					o.Period, ids).Scan(&n); err != nil {
					return res, fmt.Errorf("weekly: ledger: %w", err)
				}
				res.AlreadySent += n
			}
		} else if err := enqueueBatch(ctx, cfg, client, o.Period, ids, &res); err != nil {
			return res, err
		}
		if len(ids) < batch {
			return res, nil
		}
	}
}

func enqueueBatch(ctx context.Context, cfg *Config, client *Client, period string, ids []int64, res *EnqueueResult) error {
	tx, err := cfg.State.Begin(ctx)
	if err != nil {
		return fmt.Errorf("weekly: enqueue: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	// New rows are queued; failed, skipped and suppressed rows of an earlier run get
	// another go (a suppressed member whose address changed meanwhile is mailed).
	if _, err := tx.Exec(ctx, `INSERT INTO `+cfg.table()+` AS l (period, member_id)
SELECT $1, unnest($2::bigint[])
ON CONFLICT (period, member_id) DO UPDATE SET state = 'queued', updated_at = now()
WHERE l.state IN ('failed', 'skipped', 'suppressed')`, period, ids); err != nil {
		return fmt.Errorf("weekly: enqueue: ledger: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT member_id FROM `+cfg.table()+` WHERE period = $1 AND member_id = ANY($2) AND state = 'sent'`, period, ids)
	if err != nil {
		return fmt.Errorf("weekly: enqueue: ledger: %w", err)
	}
	sent := map[int64]bool{}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		sent[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("weekly: enqueue: ledger: %w", err)
	}
	res.AlreadySent += len(sent)
	params := make([]river.InsertManyParams, 0, len(ids)-len(sent))
	opts := &river.InsertOpts{Queue: Queue, MaxAttempts: cfg.MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
	for _, id := range ids {
		if !sent[id] {
			params = append(params, river.InsertManyParams{Args: Args{MemberID: id, Period: period}, InsertOpts: opts})
		}
	}
	if len(params) > 0 {
		// InsertManyTx, not the COPY-based InsertManyFastTx: only the former skips jobs
		// that are unique duplicates of pending ones instead of failing the batch.
		inserted, err := client.InsertManyTx(ctx, tx, params)
		if err != nil {
			return fmt.Errorf("weekly: enqueue: insert jobs: %w", err)
		}
		for _, r := range inserted {
			if r.UniqueSkippedAsDuplicate {
				res.Pending++
			} else {
				res.Enqueued++
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("weekly: enqueue: commit: %w", err)
	}
	return nil
}

// Unfinished returns how many jobs of the period are not finished (available,
// scheduled, retryable, running, pending), optionally for one member.
func Unfinished(ctx context.Context, cfg *Config, period string, memberID int64) (n int, running int, err error) {
	cfg.defaults()
	// The unfinished states are listed (not "NOT IN the finished ones") so that River's
	// (state, queue, ...) index finds them: the poll then reads the jobs still to do,
	// not every job kept in the table (completed ones stay for a day).
	err = cfg.State.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'running')
FROM `+pgx.Identifier{cfg.Schema, "river_job"}.Sanitize()+`
WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled') AND queue = $4
  AND kind = $1 AND args->>'period' = $2 AND ($3::bigint = 0 OR (args->>'member_id')::bigint = $3)`,
		Kind, period, memberID, Queue).Scan(&n, &running)
	if err != nil {
		return 0, 0, fmt.Errorf("weekly: jobs: %w", err)
	}
	return n, running, nil
}

// Wait returns once every job of the period (or of memberID) is finished, polling
// every poll while few jobs are left; progress(unfinished, running) is called after
// each poll. The count reads every unfinished job (~9 ms for 10,000, measured), so
// with many left the polls are spaced out: 0.2 ms per unfinished job, at most 2 s.
func Wait(ctx context.Context, cfg *Config, period string, memberID int64, poll time.Duration, progress func(unfinished, running int)) error {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		n, running, err := Unfinished(ctx, cfg, period, memberID)
		if err != nil {
			return err
		}
		if progress != nil {
			progress(n, running)
		}
		if n == 0 {
			return nil
		}
		t.Reset(max(poll, min(2*time.Second, time.Duration(n)*200*time.Microsecond)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Summary is the state of a period in the ledger.
type Summary struct {
	Period  string
	Sent    int // rows "sent" (this run and before)
	SentNow int // sent since the run started
	Retried int // sent since the run started after more than one attempt
	Failed  int // failed permanently (or attempts exhausted)
	Skipped int // no longer selected when their job ran
	// Suppressed: not mailed, their address bounced in their last periods
	// (Config.SuppressAfter)
	Suppressed int
	Unsent     int // queued or sending: still in progress elsewhere
	Attempts   int // SMTP attempts recorded for rows changed since the run started
}

// Summarize reads the ledger of period (one member when memberID != 0); since is the
// start of the run (rows sent after it count as SentNow).
func Summarize(ctx context.Context, cfg *Config, period string, memberID int64, since time.Time) (Summary, error) {
	cfg.defaults()
	s := Summary{Period: period}
	err := cfg.State.QueryRow(ctx, `SELECT
  count(*) FILTER (WHERE state = 'sent'),
  count(*) FILTER (WHERE state = 'sent' AND sent_at >= $3),
  count(*) FILTER (WHERE state = 'sent' AND sent_at >= $3 AND attempts > 1),
  count(*) FILTER (WHERE state = 'failed'),
  count(*) FILTER (WHERE state = 'skipped'),
  count(*) FILTER (WHERE state = 'suppressed'),
  count(*) FILTER (WHERE state IN ('queued', 'sending')),
  coalesce(sum(attempts) FILTER (WHERE updated_at >= $3), 0)
FROM `+cfg.table()+` WHERE period = $1 AND ($2::bigint = 0 OR member_id = $2)`, period, memberID, since).
		Scan(&s.Sent, &s.SentNow, &s.Retried, &s.Failed, &s.Skipped, &s.Suppressed, &s.Unsent, &s.Attempts)
	if err != nil {
		return s, fmt.Errorf("weekly: summary: %w", err)
	}
	return s, nil
}

// Failure is a member whose delivery failed for good.
type Failure struct {
	MemberID  int64
	Recipient string
	Attempts  int
	Reply     string
}

// Failures calls fn for each failed row of the period, by member id (streamed).
func Failures(ctx context.Context, cfg *Config, period string, memberID int64, fn func(Failure) error) error {
	return rowsIn(ctx, cfg, "failed", period, memberID, fn)
}

// Suppressions calls fn for each suppressed row of the period, by member id
// (streamed; Reply is SuppressedReply).
func Suppressions(ctx context.Context, cfg *Config, period string, memberID int64, fn func(Failure) error) error {
	return rowsIn(ctx, cfg, "suppressed", period, memberID, fn)
}

func rowsIn(ctx context.Context, cfg *Config, state, period string, memberID int64, fn func(Failure) error) error {
	cfg.defaults()
	rows, err := cfg.State.Query(ctx, `SELECT member_id, coalesce(recipient, ''), attempts, coalesce(last_reply, '')
FROM `+cfg.table()+` WHERE period = $1 AND state = $3 AND ($2::bigint = 0 OR member_id = $2) ORDER BY member_id`, period, memberID, state)
	if err != nil {
		return fmt.Errorf("weekly: failures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f Failure
		if err := rows.Scan(&f.MemberID, &f.Recipient, &f.Attempts, &f.Reply); err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Now returns the state database's clock (the ledger's timestamps use it).
func Now(ctx context.Context, cfg *Config) (time.Time, error) {
	var t time.Time
	err := cfg.State.QueryRow(ctx, `SELECT now()`).Scan(&t)
	if err != nil {
		return t, fmt.Errorf("weekly: state: %w", err)
	}
	return t, nil
}

// ErrNotMigrated is returned when the state database has no ledger yet.
var ErrNotMigrated = errors.New("weekly: the state database is not migrated (linkbackup migrate)")
