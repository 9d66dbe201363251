package backup

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// leaveOutStateSchema adds opts.StateSchema to opts.ExcludeSchemas when it is
// linkbackup's state schema: marked with StateSchemaPrefix and holding exactly the state
// tables (Options.StateSchema). A schema that is marked but does not qualify is backed up
// and warned about: data in the source must not switch off its own backup.
func leaveOutStateSchema(ctx context.Context, tx pgx.Tx, opts *Options) error {
	log := opts.Log
	marked, err := markedSchemas(ctx, tx)
	if err != nil {
		return err
	}
	for _, s := range marked {
		if s != opts.StateSchema {
			log.Warn("backing up a schema commented as linkbackup state: only the configured state schema is left out",
				"schema", s, "state_schema", opts.StateSchema)
		}
	}
	s := opts.StateSchema
	if s == "" || !slices.Contains(marked, s) || slices.Contains(opts.ExcludeSchemas, s) {
		return nil
	}
	why, err := notStateTables(ctx, tx, s, opts.StateTables)
	if err != nil {
		return err
	}
	if why != "" {
		log.Warn("backing up the state schema: it does not hold exactly linkbackup's state tables", "schema", s, "reason", why)
		return nil
	}
	log.Info("leaving out linkbackup's own state schema (recreated by linkbackup migrate)", "schema", s)
	opts.ExcludeSchemas = append(slices.Clip(opts.ExcludeSchemas), s)
	return nil
}

// markedSchemas lists the schemas whose comment starts with StateSchemaPrefix.
func markedSchemas(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT nspname FROM pg_namespace
		WHERE starts_with(COALESCE(obj_description(oid, 'pg_namespace'), ''), $1) ORDER BY nspname`, StateSchemaPrefix)
	if err != nil {
		return nil, fmt.Errorf("list state schemas: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// notStateTables says why schema s is not a state schema ("" when it is): a pattern
// matches none of its relations, or a relation matches no pattern.
func notStateTables(ctx context.Context, tx pgx.Tx, s string, patterns []string) (string, error) {
	if len(patterns) == 0 {
		return "no state tables are configured", nil
	}
	rows, err := tx.Query(ctx, `SELECT c.relname, array_remove(array_agg(p ORDER BY p), NULL)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN unnest($2::text[]) p ON c.relname LIKE p
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
		GROUP BY c.relname ORDER BY c.relname`, s, patterns)
	if err != nil {
		return "", fmt.Errorf("list the tables of state schema %s: %w", s, err)
	}
	matched := map[string]bool{}
	var strays []string
	for rows.Next() {
		var rel string
		var ps []string
		if err := rows.Scan(&rel, &ps); err != nil {
			return "", err
		}
		if len(ps) == 0 {
			strays = append(strays, rel)
		}
		for _, p := range ps {
			matched[p] = true
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if len(strays) > 0 {
		return "it also holds " + strings.Join(strays, ", "), nil
	}
	var missing []string
	for _, p := range patterns {
		if !matched[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return "it lacks " + strings.Join(missing, ", "), nil
	}
	return "", nil
}
