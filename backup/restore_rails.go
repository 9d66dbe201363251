package backup

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
)

// checkRails refuses, before any change, restores that would hurt: into the snapshot's
// own source, into a non-empty database, onto an older server.
func checkRails(ctx context.Context, conn *pgx.Conn, m *Manifest, opts RestoreOptions, log *slog.Logger) error {
	var db string
	var verNum int
	if err := conn.QueryRow(ctx, `SELECT current_database(), current_setting('server_version_num')::int`).Scan(&db, &verNum); err != nil {
		return fmt.Errorf("read target info: %w", err)
	}
	sysid, err := systemIdentifier(ctx, conn)
	if db == m.Database && !opts.ForceSameCluster {
		if err := unknownCluster(err, m, "target"); err != nil {
			return err
		}
		if sysid == m.Server.SystemIdentifier {
			return fixable(FixOtherTarget, "", "%w: the target is the snapshot's own source (cluster %s, database %s); restoring over "+
				"production is almost never meant", ErrRefused, sysid, db)
		}
	}
	if verNum/10000 < m.Server.VersionNum/10000 {
		if !opts.AllowDowngrade {
			return fixable(FixAllowDowngrade, "", "%w: the target runs PostgreSQL %d but the snapshot comes from %d; the schema may use "+
				"features the older server lacks", ErrRefused, verNum/10000, m.Server.VersionNum/10000)
		}
		log.Warn("restoring onto an older PostgreSQL major version", "target", verNum, "snapshot", m.Server.VersionNum)
	}
	if len(opts.Tables) > 0 {
		if opts.Force {
			return nil
		}
		for _, n := range opts.Tables {
			s, t, ok := strings.Cut(n, ".")
			if !ok {
				s, t = "public", n
			}
			var nonEmpty bool
			err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+QuoteIdent(s)+"."+QuoteIdent(t)+")").Scan(&nonEmpty)
			if err != nil {
				return fixable(FixTablesNeedSchema, "", "%w: table %s on the target: %v", ErrRefused, n, err)
			}
			if nonEmpty {
				return fixable(FixTruncate, "", "%w: table %s on the target has rows", ErrRefused, n)
			}
		}
		return nil
	}
	var objects int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r','p','v','m','S','f') AND `+systemSchemaFilter).Scan(&objects); err != nil {
		return fmt.Errorf("inspect target: %w", err)
	}
	if objects > 0 && !opts.Force {
		return fixable(FixDropSchemas, db, "%w: target database %s is not empty (%d tables, views or sequences); restore into a new "+
			"database (createdb)", ErrRefused, db, objects)
	}
	return checkOutsideSchemas(ctx, conn, db, opts.Force)
}

// dropSchemasSQL is the script that empties the target (RestoreOptions.Force): every
// non-system schema is dropped, and public is recreated as PostgreSQL 15 creates it. The
// caller runs it in the same transaction as pre-data.
func dropSchemasSQL(ctx context.Context, conn *pgx.Conn) (string, error) {
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace n WHERE `+systemSchemaFilter)
	if err != nil {
		return "", fmt.Errorf("list the target's schemas: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("list the target's schemas: %w", err)
	}
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "DROP SCHEMA %s CASCADE;\n", QuoteIdent(n))
	}
	b.WriteString("CREATE SCHEMA public AUTHORIZATION pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;\n")
	return b.String(), nil
}
