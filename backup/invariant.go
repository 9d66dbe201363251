package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// An Invariant is one of the application's own truths, checked on every restored copy
// before it is served: SQL returning the rows that violate it (no rows: it holds). The
// first column of a violating row is its id, shown in reports; no other value of the
// row ever leaves the database.
type Invariant struct {
	Name string `yaml:"name" json:"name"`
	SQL  string `yaml:"sql" json:"sql"`
	// AlwaysCritical: any violation refuses the copy. By default only a count that grew
	// since the last served copy does; a steady one is a warning.
	AlwaysCritical bool `yaml:"always_critical" json:"always_critical,omitempty"`
	// Timeout bounds the check (0: DrillOptions.Timeout). A check that hits it failed.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// Invariant levels.
const (
	InvariantOK       = "ok"
	InvariantWarning  = "warning"  // violations, no more than on the last served copy
	InvariantCritical = "critical" // the copy is not served
	InvariantFailed   = "failed"   // the check did not finish (error, time limit): not served
)

// InvariantResult is one check on one copy.
type InvariantResult struct {
	Name       string `json:"name"`
	Violations int64  `json:"violations"`
	// Previous is the count on the last served copy (nil: no record of it).
	Previous *int64 `json:"previous,omitempty"`
	Level    string `json:"level"`
	// SampleIDs are the first column of a few violating rows (never their content).
	SampleIDs []string `json:"sample_ids,omitempty"`
	Millis    int64    `json:"ms"`
	Error     string   `json:"error,omitempty"`
	// Detail says why, for built-in checks (the row drop of a table).
	Detail string `json:"detail,omitempty"`
	// InRestore: the check ran as a step of a standby refresh's restore, as soon as the
	// tables it reads were final (restore_checks.go), not after the restore.
	InRestore bool `json:"in_restore,omitempty"`
}

// Blocks tells whether the result keeps the copy from being served.
func (r InvariantResult) Blocks() bool {
	return r.Level == InvariantCritical || r.Level == InvariantFailed
}

func (r InvariantResult) String() string {
	switch {
	case r.Level == InvariantFailed:
		return fmt.Sprintf("%s: failed: %s", r.Name, r.Error)
	case r.Detail != "":
		return fmt.Sprintf("%s: %s", r.Name, r.Detail)
	}
	s := fmt.Sprintf("%s: %d violations", r.Name, r.Violations)
	if r.Violations == 1 {
		s = fmt.Sprintf("%s: 1 violation", r.Name)
	}
	if r.Previous != nil {
		s += fmt.Sprintf(" (last served copy: %d)", *r.Previous)
	}
	if len(r.SampleIDs) > 0 {
		s += ", e.g. ids " + strings.Join(r.SampleIDs, ", ")
	}
	return s
}

// ErrInvariant: a critical or failed invariant kept a copy from being served.
var ErrInvariant = errors.New("invariant violated")

// DrillOptions configure the invariant checks of a drill.
type DrillOptions struct {
	Invariants []Invariant
	// Timeout is the time limit of a check without its own. Default 60s.
	Timeout time.Duration
	// RowDropPercent: a table with at least RowDropMinRows rows on the last served copy
	// that lost more than this percentage of them is critical. 0: no row-drop check.
	RowDropPercent float64
	RowDropMinRows int64
	// Jobs checks run at once. Default 2 (in a standby refresh: its Jobs).
	Jobs int
	// Defaults gives the checks for a snapshot's schema when Invariants is nil (not
	// empty): e.g. the reference bookmark schema's (backup/member). nil: none.
	Defaults func(*Manifest) []Invariant
}

// sampleIDs is how many violating ids a result keeps.
const sampleIDs = 5

// RunInvariants runs every check of o on the database behind cfg, each read-only in its
// own transaction with its time limit, o.Jobs at a time, and judges each against prev
// (the results on the last served copy, nil: none). Results come in o.Invariants'
// order.
func RunInvariants(ctx context.Context, cfg *pgx.ConnConfig, o DrillOptions, prev []InvariantResult) []InvariantResult {
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Jobs <= 0 {
		o.Jobs = 2
	}
	before := previousCounts(prev)
	out := make([]InvariantResult, len(o.Invariants))
	idx := make([]int, len(o.Invariants))
	for i := range idx {
		idx[i] = i
	}
	var mu sync.Mutex
	err := eachOnSessions(ctx, idx, o.Jobs, connector(cfg, "invariants"), func(ctx context.Context, conn *pgx.Conn, i int) error {
		r := runInvariant(ctx, conn, o.Invariants[i], o.Timeout, "")
		judgeAgainst(&r, o.Invariants[i], before)
		mu.Lock()
		out[i] = r
		mu.Unlock()
		return nil
	})
	for i := range out {
		if out[i].Name == "" { // never ran: no session could be opened, or ctx ended
			out[i] = InvariantResult{Name: o.Invariants[i].Name, Level: InvariantFailed, Error: fmt.Sprint(err)}
		}
	}
	return out
}

// previousCounts are the violation counts of the last served copy's results by name
// (a failed check has none).
func previousCounts(prev []InvariantResult) map[string]int64 {
	before := map[string]int64{}
	for _, p := range prev {
		if p.Level != InvariantFailed {
			before[p.Name] = p.Violations
		}
	}
	return before
}

// judgeAgainst sets r.Previous from before (previousCounts) and judges r.
func judgeAgainst(r *InvariantResult, inv Invariant, before map[string]int64) {
	if p, ok := before[r.Name]; ok {
		r.Previous = &p
	}
	judgeInvariant(r, inv)
}

// runInvariant counts inv's violations and samples their ids in one read-only
// transaction bounded by its time limit; local, if set, are more SET LOCAL statements
// run first in that transaction.
func runInvariant(ctx context.Context, conn *pgx.Conn, inv Invariant, def time.Duration, local string) (r InvariantResult) {
	r = InvariantResult{Name: inv.Name}
	limit := inv.Timeout
	if limit <= 0 {
		limit = def
	}
	t0 := time.Now()
	// r is the named result, so that the runtime reaches the caller (set after return).
	defer func() { r.Millis = time.Since(t0).Milliseconds() }()
	fail := func(err error) InvariantResult {
		r.Level = InvariantFailed
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "57014" {
			r.Error = fmt.Sprintf("time limit %s reached (canceling statement)", limit)
		} else {
			r.Error = err.Error()
		}
		return r
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, local+fmt.Sprintf("SET LOCAL statement_timeout = %d", max(limit.Milliseconds(), 1))); err != nil {
		return fail(err)
	}
	q := trimSQL(inv.SQL)
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM ("+q+") AS v").Scan(&r.Violations); err != nil {
		return fail(err)
	}
	if r.Violations > 0 {
		// The first column, renamed by the alias list, orders the sample: shortest text
		// first, so integer ids come out in numeric order, and any type can be shown.
		rows, err := tx.Query(ctx, fmt.Sprintf("SELECT v.lb_id::text FROM (%s) AS v(lb_id) ORDER BY length(v.lb_id::text), v.lb_id::text LIMIT %d",
			q, sampleIDs))
		if err != nil {
			return fail(err)
		}
		for rows.Next() {
			var id *string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fail(err)
			}
			if id == nil {
				r.SampleIDs = append(r.SampleIDs, "NULL")
			} else {
				r.SampleIDs = append(r.SampleIDs, *id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail(err)
		}
	}
	return r
}

// judgeInvariant sets r.Level from its count, the previous count and inv's mode.
func judgeInvariant(r *InvariantResult, inv Invariant) {
	switch {
	case r.Level == InvariantFailed:
	case r.Violations == 0:
		r.Level = InvariantOK
	case inv.AlwaysCritical:
		r.Level = InvariantCritical
	case r.Previous != nil && r.Violations > *r.Previous:
		r.Level = InvariantCritical
	default:
		// Steady, or no record of the last copy (the first night): old data is rarely
		// clean, so the count becomes the baseline.
		r.Level = InvariantWarning
	}
}

// RowDropResults compares each table's rows with the last served copy's and flags a
// drop of more than pct percent in a table that had at least minRows rows.
func RowDropResults(prev, now map[string]int64, pct float64, minRows int64) []InvariantResult {
	if pct <= 0 || len(prev) == 0 {
		return nil
	}
	names := make([]string, 0, len(prev))
	for n := range prev {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []InvariantResult
	for _, n := range names {
		before, after := prev[n], now[n]
		if _, ok := now[n]; !ok || before < minRows || before <= 0 {
			continue
		}
		drop := 100 * float64(before-after) / float64(before)
		if drop > pct {
			p := before
			out = append(out, InvariantResult{Name: "row_drop " + n, Violations: before - after, Previous: &p,
				Level: InvariantCritical, Detail: fmt.Sprintf("%d rows, %d on the last served copy: %.1f %% fewer (limit %g %%)",
					after, before, drop, pct)})
		}
	}
	return out
}

// WorstInvariant is the most severe level among rs (InvariantOK for none).
func WorstInvariant(rs []InvariantResult) string {
	rank := map[string]int{InvariantOK: 0, InvariantWarning: 1, InvariantCritical: 2, InvariantFailed: 3}
	worst := InvariantOK
	for _, r := range rs {
		if rank[r.Level] > rank[worst] {
			worst = r.Level
		}
	}
	return worst
}

// InvariantError is ErrInvariant naming every blocking result, or nil.
func InvariantError(rs []InvariantResult) error {
	var bad []string
	for _, r := range rs {
		if r.Blocks() {
			bad = append(bad, r.String())
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvariant, strings.Join(bad, "; "))
}

// ValidateInvariants checks every invariant's SQL without running it: PostgreSQL parses
// and plans it on conn (PREPARE, so nothing executes). A syntax error or an unknown
// table or column is reported with the invariant's name; ids and names must be unique.
func ValidateInvariants(ctx context.Context, conn *pgx.Conn, invs []Invariant) error {
	seen := map[string]bool{}
	var errs []error
	for _, inv := range invs {
		if err := checkInvariantShape(inv); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[inv.Name] {
			errs = append(errs, fmt.Errorf("invariant %q: defined twice", inv.Name))
		}
		seen[inv.Name] = true
		if conn == nil {
			continue
		}
		if _, err := conn.Prepare(ctx, "", "SELECT count(*) FROM ("+trimSQL(inv.SQL)+") AS v"); err != nil {
			errs = append(errs, fmt.Errorf("invariant %q: %w", inv.Name, err))
		}
	}
	return errors.Join(errs...)
}

// checkInvariantShape refuses what cannot be a check whatever the database: no name,
// no SQL, several statements.
func checkInvariantShape(inv Invariant) error {
	switch q := trimSQL(inv.SQL); {
	case strings.TrimSpace(inv.Name) == "":
		return fmt.Errorf("invariant with SQL %.40q: no name", inv.SQL)
	case q == "":
		return fmt.Errorf("invariant %q: no SQL", inv.Name)
	case strings.Contains(q, ";"):
		return fmt.Errorf("invariant %q: one SELECT without ';' (it is run as a subquery)", inv.Name)
	case inv.Timeout < 0:
		return fmt.Errorf("invariant %q: timeout %s: want >= 0", inv.Name, inv.Timeout)
	}
	return nil
}

func trimSQL(s string) string {
	return strings.TrimSpace(strings.TrimRight(strings.TrimSpace(s), "; \t\r\n"))
}
