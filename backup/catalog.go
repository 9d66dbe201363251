package backup

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// catTable is a table found in the catalog.
type catTable struct {
	Schema, Name string
	Columns      []string
	Parent       string
	Bytes        int64
	CanRead      bool
	// Binary: every column's type is built in and has a binary form that means the same
	// on any server (no OIDs inside: no reg* types; user types, enums and domains have
	// cluster-specific OIDs that binary arrays and records carry), so COPY can use the
	// binary format: cheaper to write, read and load than text.
	Binary bool
}

// catalog is what a backup reads from the source under its snapshot.
type catalog struct {
	Tables       []catTable
	Sequences    []QualName
	SeqNoRead    []string
	MatViews     []QualName
	LargeObjects int64
	BlockSize    int64
}

// systemSchemaFilter matches user schemas (not the system's, not temporary ones).
const systemSchemaFilter = `n.nspname NOT IN ('pg_catalog', 'information_schema')
	AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`

// notExtensionMember excludes objects that belong to an extension (pg_dump recreates
// them with CREATE EXTENSION).
const notExtensionMember = `NOT EXISTS (SELECT 1 FROM pg_depend d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`

// readCatalog lists tables (plain tables and leaf partitions: the rows live there),
// sequences, populated materialized views and the large-object count.
func readCatalog(ctx context.Context, tx pgx.Tx, excludeSchemas []string) (*catalog, error) {
	cat := &catalog{}
	rows, err := tx.Query(ctx, `
SELECT n.nspname, c.relname,
       COALESCE((SELECT quote_ident(pn.nspname) || '.' || quote_ident(pc.relname)
                 FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
                 JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                 WHERE i.inhrelid = c.oid AND c.relispartition), ''),
       pg_relation_size(c.oid),
       has_table_privilege(c.oid, 'SELECT'),
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
             ORDER BY a.attnum),
       (SELECT COALESCE(bool_and(a.atttypid < 16384 AND ty.typsend::oid <> 0 AND ty.typreceive::oid <> 0
                                 AND ty.typname !~ '^_?reg'), false)
        FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND `+systemSchemaFilter+` AND `+notExtensionMember+`
  AND n.nspname <> ALL(COALESCE($1::text[], ARRAY[]::text[]))
ORDER BY n.nspname, c.relname`, excludeSchemas)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for rows.Next() {
		var t catTable
		if err := rows.Scan(&t.Schema, &t.Name, &t.Parent, &t.Bytes, &t.CanRead, &t.Columns, &t.Binary); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		cat.Tables = append(cat.Tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}

	rows, err = tx.Query(ctx, `
SELECT n.nspname, c.relname, c.relkind::text,
       CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT') ELSE true END,
       CASE WHEN c.relkind = 'm' THEN c.relispopulated ELSE false END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('S', 'm') AND `+systemSchemaFilter+` AND `+notExtensionMember+`
  AND n.nspname <> ALL(COALESCE($1::text[], ARRAY[]::text[]))
ORDER BY n.nspname, c.relname`, excludeSchemas)
	if err != nil {
		return nil, fmt.Errorf("list sequences: %w", err)
	}
	for rows.Next() {
		var q QualName
		var kind string
		var canRead, populated bool
		if err := rows.Scan(&q.Schema, &q.Name, &kind, &canRead, &populated); err != nil {
			return nil, fmt.Errorf("list sequences: %w", err)
		}
		switch {
		case kind == "S" && canRead:
			cat.Sequences = append(cat.Sequences, q)
		case kind == "S":
			cat.SeqNoRead = append(cat.SeqNoRead, q.Schema+"."+q.Name)
		case kind == "m" && populated:
			cat.MatViews = append(cat.MatViews, q)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sequences: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_largeobject_metadata`).Scan(&cat.LargeObjects); err != nil {
		return nil, fmt.Errorf("count large objects: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT current_setting('block_size')::bigint`).Scan(&cat.BlockSize); err != nil {
		return nil, fmt.Errorf("block size: %w", err)
	}
	return cat, nil
}

// readSequences reads every sequence's state. Sequences are not transactional, so this
// runs after the data is copied: the values are then at least those the rows use.
func readSequences(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, seqs []QualName) ([]Sequence, error) {
	out := make([]Sequence, 0, len(seqs))
	for _, s := range seqs {
		seq := Sequence{Schema: s.Schema, Name: s.Name}
		err := q.QueryRow(ctx, `SELECT last_value, is_called FROM `+QuoteIdent(s.Schema)+`.`+QuoteIdent(s.Name)).
			Scan(&seq.LastValue, &seq.IsCalled)
		if err != nil {
			return nil, fmt.Errorf("read sequence %s.%s: %w", s.Schema, s.Name, err)
		}
		out = append(out, seq)
	}
	return out, nil
}

// matchTable reports whether "schema.table" patterns include the table. A pattern is an
// exact schema.name (unquoted) or schema.* for a whole schema.
func matchTable(patterns []string, schema, name string) bool {
	for _, p := range patterns {
		s, n, ok := strings.Cut(p, ".")
		if !ok {
			s, n = "public", p
		}
		if s == schema && (n == name || n == "*") {
			return true
		}
	}
	return false
}
