package backup

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// reloadTables is the data step of a forced table subset (RestoreOptions.Tables with
// Force): on one session and in one transaction the tables are truncated and every
// chunk is loaded, referenced tables first, so a load that fails leaves all of them as
// they were.
func reloadTables(ctx context.Context, opts RestoreOptions, cfg *pgx.ConnConfig, tables []Table) error {
	conn, err := connector(cfg, "restore")(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ordered, err := referencedFirst(ctx, conn, tables)
	if err != nil {
		return err
	}
	chunks := 0
	names := make([]string, len(ordered))
	for i, t := range ordered {
		names[i] = t.QualifiedName()
		chunks += len(t.Chunks)
	}
	opts.Progress.ChunksTotal.Store(int64(chunks))
	opts.Progress.TablesTotal.Store(int64(len(ordered)))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")); err != nil {
		return fmt.Errorf("truncate %s: %w", strings.Join(names, ", "), err)
	}
	for _, t := range ordered {
		for _, c := range t.Chunks {
			if err := loadChunk(ctx, conn, opts, t, c, t.copySQL("FROM STDIN")); err != nil {
				return fmt.Errorf("%w; the tables were left as they were", err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit the reload of %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// referencedFirst orders tables so that a table comes after the tables its foreign keys
// reference (among tables); a cycle keeps the given order for the rest.
func referencedFirst(ctx context.Context, conn *pgx.Conn, tables []Table) ([]*Table, error) {
	rows, err := conn.Query(ctx, `SELECT cn.nspname || '.' || cl.relname, fn.nspname || '.' || fl.relname
		FROM pg_constraint k
		JOIN pg_class cl ON cl.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cl.relnamespace
		JOIN pg_class fl ON fl.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = fl.relnamespace
		WHERE k.contype = 'f' AND k.conrelid <> k.confrelid`)
	if err != nil {
		return nil, fmt.Errorf("read the foreign keys of the target: %w", err)
	}
	refs := map[string][]string{}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			return nil, err
		}
		refs[from] = append(refs[from], to)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	pending := map[string]bool{}
	for i := range tables {
		pending[tables[i].String()] = true
	}
	var out []*Table
	for len(out) < len(tables) {
		n := len(out)
		for i := range tables {
			t := &tables[i]
			if !pending[t.String()] || waitsFor(refs[t.String()], pending, t.String()) {
				continue
			}
			pending[t.String()] = false
			out = append(out, t)
		}
		if len(out) == n { // a cycle: the rest in the given order
			for i := range tables {
				if pending[tables[i].String()] {
					pending[tables[i].String()] = false
					out = append(out, &tables[i])
				}
			}
		}
	}
	return out, nil
}

// waitsFor tells whether one of refs (other than self) is still pending.
func waitsFor(refs []string, pending map[string]bool, self string) bool {
	for _, r := range refs {
		if r != self && pending[r] {
			return true
		}
	}
	return false
}
