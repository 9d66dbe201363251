package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrInUse: a refresh stopped because a database it would drop has sessions other than
// linkbackup's (an operator serving from <db>__previous after a failover, say). Nothing
// was terminated and the serving copy is untouched.
var ErrInUse = errors.New("database in use")

// sideDB is what a refresh knows of a side database before it drops it.
type sideDB struct {
	exists    bool
	comment   string
	allowConn bool
}

func readSideDB(ctx context.Context, conn *pgx.Conn, name string) (sideDB, error) {
	var d sideDB
	var comment *string
	err := conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database'), datallowconn FROM pg_database WHERE datname = $1`,
		name).Scan(&comment, &d.allowConn)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("inspect %s: %w", name, err)
	}
	d.exists = true
	if comment != nil {
		d.comment = *comment
	}
	return d, nil
}

// hasStandbyMark: the comment is a serving copy's readiness record.
func hasStandbyMark(c string) bool { return strings.HasPrefix(c, StandbyMarkPrefix+" ") }

// hasIncomingMark: the comment marks a side database a refresh is restoring into.
func hasIncomingMark(c string) bool { return strings.HasPrefix(c, incomingMark+" ") }

// otherSessions describes the sessions on database name other than this one (and
// autovacuum, which a drop stops itself): "user alice, application psql, from 10.0.0.5";
// at most five are listed.
func otherSessions(ctx context.Context, conn *pgx.Conn, name string) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT coalesce(usename, ''), coalesce(application_name, ''), coalesce(host(client_addr), 'local socket')
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()
		AND backend_type IS DISTINCT FROM 'autovacuum worker' ORDER BY backend_start`, name)
	if err != nil {
		return nil, fmt.Errorf("sessions on %s: %w", name, err)
	}
	var out []string
	for rows.Next() {
		var user, app, from string
		if err := rows.Scan(&user, &app, &from); err != nil {
			return nil, err
		}
		if app == "" {
			app = "(none)"
		}
		out = append(out, fmt.Sprintf("user %s, application %s, from %s", user, app, from))
	}
	return out, rows.Err()
}

func inUse(name string, sessions []string) error {
	list := sessions
	if len(list) > 5 {
		list = append(list[:5:5], fmt.Sprintf("and %d more", len(sessions)-5))
	}
	return fmt.Errorf("%w: %s has %d session(s) (%s); a refresh drops it only when nobody uses it and never terminates "+
		"its sessions. If it serves after a failover, clear its linkbackup mark (COMMENT ON DATABASE … IS NULL) or "+
		"rename it; otherwise end those sessions", ErrInUse, name, len(sessions), strings.Join(list, "; "))
}

// checkSide refuses, without changing anything, when side database name exists but its
// comment does not satisfy marked, or other sessions are on it.
func checkSide(ctx context.Context, conn *pgx.Conn, name, what string, marked func(string) bool) (sideDB, error) {
	d, err := readSideDB(ctx, conn, name)
	if err != nil || !d.exists {
		return d, err
	}
	if !marked(d.comment) {
		return d, fmt.Errorf("%w: database %s on the standby server has no linkbackup %s mark: it was renamed, promoted "+
			"or made by someone else, and a refresh never drops it. Rename or drop it yourself", ErrRefused, name, what)
	}
	s, err := otherSessions(ctx, conn, name)
	if err != nil {
		return d, err
	}
	if len(s) > 0 {
		return d, inUse(name, s)
	}
	return d, nil
}

// dropSideChecked drops side database name only when it carries linkbackup's mark and
// nobody else is on it: new connections are refused first, then the sessions are
// counted, then it is dropped without FORCE (PostgreSQL refuses if one slipped in).
// A refusal leaves it as it was.
func dropSideChecked(ctx context.Context, conn *pgx.Conn, name, what string, marked func(string) bool) error {
	d, err := checkSide(ctx, conn, name, what, marked)
	if err != nil || !d.exists {
		return err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+QuoteIdent(name)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("close %s to new sessions: %w", name, err)
	}
	restore := func() {
		if d.allowConn {
			conn.Exec(context.WithoutCancel(ctx), "ALTER DATABASE "+QuoteIdent(name)+" WITH ALLOW_CONNECTIONS true")
		}
	}
	s, err := otherSessions(ctx, conn, name)
	if err == nil && len(s) > 0 {
		err = inUse(name, s)
	}
	if err == nil {
		if _, err = conn.Exec(ctx, "DROP DATABASE "+QuoteIdent(name)); err != nil {
			err = fmt.Errorf("drop %s: %w", name, err)
		}
	}
	if err != nil {
		restore()
	}
	return err
}

// renameInto makes incoming the serving copy name in one transaction: its readiness
// record is written, name becomes previous (unless previous is ""), incoming becomes
// name. Until it commits, incoming keeps its incoming mark.
func renameInto(ctx context.Context, conn *pgx.Conn, rec *StandbyRecord, name, incoming, previous string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "COMMENT ON DATABASE "+QuoteIdent(incoming)+" IS "+quoteLit(standbyComment(rec)))
	if err == nil && previous != "" {
		_, err = tx.Exec(ctx, "ALTER DATABASE "+QuoteIdent(name)+" RENAME TO "+QuoteIdent(previous))
	}
	if err == nil {
		_, err = tx.Exec(ctx, "ALTER DATABASE "+QuoteIdent(incoming)+" RENAME TO "+QuoteIdent(name))
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// dropOwnIncoming drops the side database this refresh created, after a failure. Its
// sessions are this refresh's own restore sessions, so they are terminated; a database
// under that name without the incoming mark is not this refresh's and stays.
func dropOwnIncoming(ctx context.Context, conn *pgx.Conn, incoming string) error {
	d, err := readSideDB(ctx, conn, incoming)
	if err != nil || !d.exists {
		return err
	}
	if !hasIncomingMark(d.comment) {
		return fmt.Errorf("%s has no linkbackup incoming mark; left as it is", incoming)
	}
	_, err = conn.Exec(ctx, "DROP DATABASE "+QuoteIdent(incoming)+" WITH (FORCE)")
	return err
}
