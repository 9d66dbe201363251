package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

// ErrInvalidInvariant: an invariant's SQL does not parse or names what does not exist;
// a configuration error, not a finding about the data.
var ErrInvalidInvariant = errors.New("invalid invariant")

// InvariantsError is the error of a drill whose invariants kept the copy from being
// served; it matches ErrInvariant and carries every result.
type InvariantsError struct {
	Results []InvariantResult
	err     error
}

func (e *InvariantsError) Error() string { return e.err.Error() }
func (e *InvariantsError) Unwrap() error { return e.err }

// invariantsFor are the checks a drill of m runs: the configured ones, or the defaults
// for m's schema when none are configured (nil, not empty).
func (o DrillOptions) invariantsFor(m *Manifest) []Invariant {
	if o.Invariants == nil && o.Defaults != nil {
		return o.Defaults(m)
	}
	return o.Invariants
}

// drillInvariants runs the drill's invariants read-only on the restored copy behind dsn,
// judged against the copy the standby serves now (name), and records them in rec.
// Those that ran inside the restore (checks, nil: none) are not run again: their
// results are judged here in the same way. A blocking result returns an
// *InvariantsError; an invariant that does not parse on the copy returns
// ErrInvalidInvariant.
func drillInvariants(ctx context.Context, opts StandbyOptions, m *Manifest, name, dsn string, rep *RestoreReport, rec *StandbyRecord, checks *restoreChecks, log *slog.Logger) error {
	rec.TableRows = make(map[string]int64, len(rep.Tables))
	for _, t := range rep.Tables {
		rec.TableRows[t.Table] = t.Rows
	}
	invs := opts.Drill.invariantsFor(m)
	if checks != nil {
		invs = checks.invs
	}
	if len(invs) == 0 && opts.Drill.RowDropPercent <= 0 {
		return nil
	}
	prev, err := ReadStandbyRecord(ctx, opts.Server, name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("cannot read the serving copy's record: the invariants are judged without a baseline", "err", err)
		}
		prev = &StandbyRecord{}
	}
	cfg, err := ConnConfig(dsn, "linkbackup-invariants")
	if err != nil {
		return err
	}
	if checks == nil || !checks.validated {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return fmt.Errorf("invariants: connect: %w", err)
		}
		err = ValidateInvariants(ctx, conn, invs)
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidInvariant, err)
		}
	}
	o := opts.Drill
	if o.Jobs <= 0 {
		o.Jobs = opts.Jobs
	}
	// The results in invs' order: those of the restore judged here, the others run now.
	results := make([]InvariantResult, len(invs))
	before := previousCounts(prev.Invariants)
	var after []int
	o.Invariants = nil
	for i, inv := range invs {
		if checks != nil && checks.ran[i] {
			results[i] = checks.results[i]
			judgeAgainst(&results[i], inv, before)
			continue
		}
		after = append(after, i)
		o.Invariants = append(o.Invariants, inv)
	}
	if len(after) > 0 {
		for k, r := range RunInvariants(ctx, cfg, o, prev.Invariants) {
			results[after[k]] = r
		}
	}
	results = append(results, RowDropResults(prev.TableRows, rec.TableRows, o.RowDropPercent, o.RowDropMinRows)...)
	rec.Invariants = results
	for _, r := range results {
		if r.Level != InvariantOK {
			log.Warn("invariant", "result", r.String(), "level", r.Level, "ms", r.Millis)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := InvariantError(results); err != nil {
		return &InvariantsError{Results: results, err: err}
	}
	return nil
}

// CheckDatabase runs the drill's invariants (o.Defaults get the database's own tables
// as a manifest) read-only on any database behind dsn, judged against baseline (a
// served copy's record; nil: none), and the row-drop check against baseline's table
// rows. An invariant that does not parse there returns ErrInvalidInvariant; the
// results' verdict is the caller's (InvariantError).
func CheckDatabase(ctx context.Context, dsn string, o DrillOptions, baseline *StandbyRecord) ([]InvariantResult, error) {
	cfg, err := ConnConfig(dsn, "linkbackup-check")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", pgdsn.Strip(dsn), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if baseline == nil {
		baseline = &StandbyRecord{}
	}
	rows, err := conn.Query(ctx, `SELECT c.table_schema::text, c.table_name::text, array_agg(c.column_name::text ORDER BY c.ordinal_position)
		FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
		GROUP BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	m := &Manifest{}
	for rows.Next() {
		var t Table
		if err := rows.Scan(&t.Schema, &t.Name, &t.Columns); err != nil {
			rows.Close()
			return nil, err
		}
		m.Tables = append(m.Tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	invs := o.invariantsFor(m)
	if err := ValidateInvariants(ctx, conn, invs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInvariant, err)
	}
	now := map[string]int64{}
	for _, t := range m.Tables {
		name := t.String()
		if _, ok := baseline.TableRows[name]; !ok || o.RowDropPercent <= 0 {
			continue
		}
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+t.QualifiedName()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		now[name] = n
	}
	o.Invariants = invs
	results := RunInvariants(ctx, cfg, o, baseline.Invariants)
	return append(results, RowDropResults(baseline.TableRows, now, o.RowDropPercent, o.RowDropMinRows)...), ctx.Err()
}
