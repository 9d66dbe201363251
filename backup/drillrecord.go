package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
)

// The store's record of what a standby serves and keeps as previous, for retention:
// drills/<db>.json is rewritten after every successful refresh (the attempt record
// under standby/ only knows the last attempt, and a failed attempt against a dead
// standby server cannot say what was proven before).
const DrillsPrefix = "drills/"

// DrillRecord says which proven snapshots a standby database holds.
type DrillRecord struct {
	Database string         `json:"database"` // serving name on the standby
	Serving  *StandbyRecord `json:"serving"`
	// Previous is what <db>__previous holds since the swap (the serving record before).
	Previous *StandbyRecord `json:"previous,omitempty"`
}

// DrillKey is where the drill record of standby database name lives.
func DrillKey(name string) string { return DrillsPrefix + safeName(name) + ".json" }

// recordDrill rewrites the drill record of rec.Database after a successful swap: the old
// serving record becomes the previous one.
func recordDrill(ctx context.Context, st Store, rec *StandbyRecord) error {
	d := &DrillRecord{Database: rec.Database, Serving: rec}
	old, err := readDrill(ctx, st, DrillKey(rec.Database))
	switch {
	case err == nil && old.Serving != nil && old.Serving.Snapshot != rec.Snapshot:
		d.Previous = old.Serving
	case err == nil:
		d.Previous = old.Previous
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return writeJSON(ctx, st, DrillKey(rec.Database), d)
}

func readDrill(ctx context.Context, st Store, key string) (*DrillRecord, error) {
	return readRecord[DrillRecord](ctx, st, key, 1<<20, "drill record", "")
}

// ReasonPassedInvariants keeps a served copy whose drill passed every critical invariant.
const ReasonPassedInvariants = "passed every critical invariant"

// DrillFacts are the standby facts retention needs, read from the store.
type DrillFacts struct {
	// Proven: snapshot ids proven by a drill (served now or before, or a successful attempt).
	Proven map[string]bool
	// Reasons: "served by standby <db>", "kept as previous by standby <db>".
	Reasons map[string][]string
}

// ReadDrillFacts reads the drill records (drills/) and the last attempt records
// (standby/) of every standby database in the store. An unreadable record is an error:
// forget must not remove what a record it cannot read might protect.
func ReadDrillFacts(ctx context.Context, st Store) (*DrillFacts, error) {
	f := &DrillFacts{Proven: map[string]bool{}, Reasons: map[string][]string{}}
	add := func(r *StandbyRecord, reason string) {
		if r == nil || r.Snapshot == "" {
			return
		}
		f.Proven[r.Snapshot] = true
		reasons := []string{reason}
		if len(r.Invariants) > 0 && InvariantError(r.Invariants) == nil {
			// The copy from before a bad release stays while someone notices.
			reasons = append(reasons, ReasonPassedInvariants)
		}
		for _, reason := range reasons {
			if !slices.Contains(f.Reasons[r.Snapshot], reason) {
				f.Reasons[r.Snapshot] = append(f.Reasons[r.Snapshot], reason)
			}
		}
	}
	drills, err := st.List(ctx, DrillsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list drill records: %w", err)
	}
	for _, o := range drills {
		d, err := readDrill(ctx, st, o.Key)
		if err != nil {
			return nil, err
		}
		add(d.Serving, "served by standby "+d.Database)
		add(d.Previous, "kept as previous by standby "+d.Database)
	}
	attempts, err := st.List(ctx, "standby/")
	if err != nil {
		return nil, fmt.Errorf("list standby records: %w", err)
	}
	for _, o := range attempts {
		a, err := readAttempt(ctx, st, o.Key)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if a.OK {
			f.Proven[a.Snapshot] = true
		}
		add(a.Serving, "served by standby "+a.Database)
	}
	return f, nil
}

func readAttempt(ctx context.Context, st Store, key string) (*StandbyAttempt, error) {
	return readRecord[StandbyAttempt](ctx, st, key, 1<<20, "standby attempt record", "")
}
