package backup

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
)

// recordSubscriptions records in m the logical replication subscriptions of the source
// database, which no snapshot holds (pg_dump --no-subscriptions): a restored copy must
// never replicate from the primary, and PostgreSQL refuses to drop a database holding a
// subscription (55006), which would wedge every later standby refresh.
func recordSubscriptions(ctx context.Context, tx pgx.Tx, m *Manifest, log *slog.Logger) error {
	rows, err := tx.Query(ctx, `SELECT subname FROM pg_subscription
		WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY subname`)
	if err != nil {
		return fmt.Errorf("list subscriptions: %w", err)
	}
	subs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list subscriptions: %w", err)
	}
	if len(subs) > 0 {
		log.Warn("logical replication subscriptions are left out of the snapshot; recreate them by hand after a restore",
			"subscriptions", subs)
	}
	m.Excluded.Subscriptions = subs
	return nil
}

// isSubscriptionEntry: a pg_dump entry that creates or describes a subscription.
func isSubscriptionEntry(e dumpEntry) bool {
	return strings.HasPrefix(e.Type, "SUBSCRIPTION") || strings.HasPrefix(e.Name, "SUBSCRIPTION ")
}

// leaveOutSubscriptions drops subscription entries from the schema scripts (snapshots
// taken before they were left out at backup hold them) and records in the report what
// the restore does not recreate.
func (r *restoreRun) leaveOutSubscriptions(scripts ...*dumpScript) {
	for _, s := range r.m.Excluded.Subscriptions {
		r.rep.LeftOut = append(r.rep.LeftOut, "subscription "+s+" (not in the snapshot)")
	}
	for _, sc := range scripts {
		kept := sc.Entries[:0]
		for _, e := range sc.Entries {
			if !isSubscriptionEntry(e) {
				kept = append(kept, e)
				continue
			}
			if e.Type == "SUBSCRIPTION" {
				r.rep.LeftOut = append(r.rep.LeftOut, "subscription "+e.Name+" (in the snapshot, not restored)")
			}
		}
		sc.Entries = kept
	}
	if len(r.rep.LeftOut) > 0 {
		r.opts.Log.Warn("left out of the restore", "what", r.rep.LeftOut)
	}
}
