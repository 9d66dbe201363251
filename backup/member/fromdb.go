package member

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

// RestoreFromDatabase is Restore with the member's rows read from a live database (the
// point-in-time copy restore --member --to-time recovers) instead of a snapshot: same
// conflict rules, same report; label names the source in the report.
func RestoreFromDatabase(ctx context.Context, opts Options, sourceDSN, label string) (*Report, error) {
	src, err := pgx.Connect(ctx, sourceDSN)
	if err != nil {
		return nil, fmt.Errorf("connect to the source %s: %w", pgdsn.Strip(sourceDSN), err)
	}
	defer src.Close(context.WithoutCancel(ctx))
	tables := map[string]*backup.Table{}
	for _, mt := range memberTables {
		rows, err := src.Query(ctx, `SELECT attname::text FROM pg_attribute
			WHERE attrelid = to_regclass('public.' || quote_ident($1)) AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
			ORDER BY attnum`, mt.name)
		if err != nil {
			return nil, err
		}
		cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		if len(cols) > 0 {
			tables[mt.name] = &backup.Table{Schema: "public", Name: mt.name, Columns: cols}
		}
	}
	rowsOf := func(ctx context.Context, t *backup.Table, owner string) (*backup.FilteredRows, error) {
		var buf bytes.Buffer
		sql := "COPY (SELECT " + backup.ColumnList(t.Columns) + " FROM " + t.QualifiedName() + " WHERE " +
			backup.QuoteIdent(owner) + " = " + strconv.FormatInt(opts.MemberID, 10) + ") TO STDOUT"
		if _, err := src.PgConn().CopyTo(ctx, &buf, sql); err != nil {
			return nil, fmt.Errorf("read %s of member %d: %w", t, opts.MemberID, err)
		}
		// COPY text escapes newlines inside values: one line per row.
		return &backup.FilteredRows{Data: buf.Bytes(), N: int64(bytes.Count(buf.Bytes(), []byte{'\n'}))}, nil
	}
	return restoreFrom(ctx, opts, label, label, tables, rowsOf)
}
