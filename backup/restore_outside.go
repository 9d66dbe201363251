package backup

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// outsideObjectsSQL lists the objects of the database that live outside any schema and
// were not made by an extension or initdb (oid >= FirstNormalObjectId): a restore would
// collide with them (a publication of the same name) or leave them behind.
const outsideObjectsSQL = `WITH ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT what FROM (
  SELECT 'publication ' || quote_ident(pubname) AS what FROM pg_publication
  UNION ALL SELECT 'event trigger ' || quote_ident(evtname) FROM pg_event_trigger e
    WHERE NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_event_trigger'::regclass AND objid = e.oid)
  UNION ALL SELECT 'foreign data wrapper ' || quote_ident(fdwname) FROM pg_foreign_data_wrapper w
    WHERE NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_foreign_data_wrapper'::regclass AND objid = w.oid)
  UNION ALL SELECT 'server ' || quote_ident(srvname) FROM pg_foreign_server
  UNION ALL SELECT 'cast (' || format_type(castsource, NULL) || ' AS ' || format_type(casttarget, NULL) || ')' FROM pg_cast c
    WHERE c.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_cast'::regclass AND objid = c.oid)
  UNION ALL SELECT 'transform for ' || format_type(trftype, NULL) FROM pg_transform t
    WHERE NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_transform'::regclass AND objid = t.oid)
  UNION ALL SELECT 'access method ' || quote_ident(amname) FROM pg_am a
    WHERE a.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_am'::regclass AND objid = a.oid)
  UNION ALL SELECT 'large object ' || oid FROM pg_largeobject_metadata
  UNION ALL SELECT 'language ' || quote_ident(lanname) FROM pg_language l
    WHERE l.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_language'::regclass AND objid = l.oid)
) o ORDER BY what`

// checkOutsideSchemas refuses a whole restore into a target holding objects outside
// schemas that would survive emptying it: with force, the drop of its schemas is tried
// in a transaction that is rolled back, and what is left is counted (objects that depend
// on a schema's types or functions go with it).
func checkOutsideSchemas(ctx context.Context, conn *pgx.Conn, db string, force bool) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if force {
		drop, err := dropSchemasSQL(ctx, conn)
		if err != nil {
			return err
		}
		if _, err := tx.Conn().PgConn().Exec(ctx, drop).ReadAll(); err != nil {
			return fmt.Errorf("inspect target (trial drop of its schemas, rolled back): %w", err)
		}
	}
	rows, err := tx.Query(ctx, outsideObjectsSQL)
	if err != nil {
		return fmt.Errorf("inspect target (objects outside schemas): %w", err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("inspect target (objects outside schemas): %w", err)
	}
	if len(left) == 0 {
		return nil
	}
	list := left
	if len(list) > 10 {
		list = append(list[:10:10], fmt.Sprintf("and %d more", len(left)-10))
	}
	how := "a restore would collide with them or leave them behind"
	if force {
		how = "emptying it does not drop them, and a restore would collide with them or leave them behind"
	}
	return fixable(FixCleanTarget, db, "%w: target database %s holds objects outside its schemas (%s); %s",
		ErrRefused, db, strings.Join(list, ", "), how)
}
