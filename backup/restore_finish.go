package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// finish sets the sequences, refreshes the materialized views (whole restores only) and
// analyzes every restored table, materialized view and partitioned parent.
func (r *restoreRun) finish(ctx context.Context) error {
	opts, conn := r.opts, r.conn
	t0 := time.Now()
	analyze := make([]string, 0, len(r.tables))
	for _, t := range r.tables {
		if !r.tablesAnalyzed {
			analyze = append(analyze, t.QualifiedName())
		}
	}
	if len(opts.Tables) == 0 {
		for _, s := range r.m.Sequences {
			if _, err := conn.Exec(ctx, `SELECT pg_catalog.setval($1, $2, $3)`,
				QuoteIdent(s.Schema)+"."+QuoteIdent(s.Name), s.LastValue, s.IsCalled); err != nil {
				return fmt.Errorf("set sequence %s.%s: %w", s.Schema, s.Name, err)
			}
		}
		for _, v := range r.m.MatViews {
			name := QuoteIdent(v.Schema) + "." + QuoteIdent(v.Name)
			if _, err := conn.Exec(ctx, "REFRESH MATERIALIZED VIEW "+name); err != nil {
				return fmt.Errorf("refresh materialized view %s.%s: %w", v.Schema, v.Name, err)
			}
			analyze = append(analyze, name)
		}
		// Partitioned parents keep statistics of their own.
		rows, err := conn.Query(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p' AND `+systemSchemaFilter)
		if err != nil {
			return err
		}
		parents, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		analyze = append(analyze, parents...)
	}
	// Statistics last, after the indexes exist (expression indexes get statistics only
	// then); the planner needs them before the copy serves anything.
	if err := eachOnSessions(ctx, analyze, opts.Jobs, connector(r.cfg, "analyze"), func(ctx context.Context, conn *pgx.Conn, name string) error {
		if _, err := conn.Exec(ctx, "ANALYZE "+name); err != nil {
			return fmt.Errorf("analyze %s: %w", name, err)
		}
		return nil
	}); err != nil {
		return err
	}
	r.phase("sequences+analyze", t0)
	return nil
}
