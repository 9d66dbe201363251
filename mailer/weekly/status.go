package weekly

import (
	"context"
	"fmt"
	"time"
)

// PeriodStatus is what the ledger says about one period, for status and metrics.
type PeriodStatus struct {
	Period     string `json:"period"`
	Selected   int    `json:"selected"` // ledger rows: members selected by an enqueue
	Sent       int    `json:"sent"`
	Pending    int    `json:"pending"` // queued or sending
	Failed     int    `json:"failed_permanently"`
	Suppressed int    `json:"suppressed"`
	Skipped    int    `json:"skipped"`
	// LastMessage is when the period's last message was accepted; nil before the first.
	LastMessage *time.Time `json:"last_message,omitempty"`
}

// Started reports whether an enqueue recorded the period.
func (p PeriodStatus) Started() bool { return p.Selected > 0 }

// Finished reports whether the period was enqueued and nothing of it is pending.
func (p PeriodStatus) Finished() bool { return p.Selected > 0 && p.Pending == 0 }

// Statuses reads the ledger's counts of each period (in the order given; a period
// without rows has zero counts). ErrNotMigrated: the state database has no ledger
// (the weekly email was never used there).
func Statuses(ctx context.Context, cfg *Config, periods ...string) ([]PeriodStatus, error) {
	cfg.defaults()
	out := make([]PeriodStatus, len(periods))
	for i, p := range periods {
		out[i].Period = p
	}
	var reg *string
	if err := cfg.State.QueryRow(ctx, `SELECT to_regclass($1)::text`, cfg.table()).Scan(&reg); err != nil {
		return nil, fmt.Errorf("weekly: state: %w", err)
	}
	if reg == nil {
		return nil, ErrNotMigrated
	}
	for i := range out {
		s := &out[i]
		if err := cfg.State.QueryRow(ctx, `SELECT count(*),
  count(*) FILTER (WHERE state = 'sent'),
  count(*) FILTER (WHERE state IN ('queued', 'sending')),
  count(*) FILTER (WHERE state = 'failed'),
  count(*) FILTER (WHERE state = 'suppressed'),
  count(*) FILTER (WHERE state = 'skipped'),
  max(sent_at)
FROM `+cfg.table()+` WHERE period = $1`, s.Period).
			Scan(&s.Selected, &s.Sent, &s.Pending, &s.Failed, &s.Suppressed, &s.Skipped, &s.LastMessage); err != nil {
			return nil, fmt.Errorf("weekly: status: %w", err)
		}
	}
	return out, nil
}
