package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/jackc/pgx/v5"
)

// ErrServingClosed: the serving standby copy does not accept connections (a swap was
// interrupted after it closed the old copy to new sessions).
var ErrServingClosed = errors.New("does not accept connections")

// checkServing tells whether the serving copy name on the standby server can serve:
// it allows connections (datallowconn) and a session to it opens and answers.
func checkServing(ctx context.Context, server, name string) error {
	cfg, err := ConnConfig(server, "linkbackup-status")
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to standby server %s: %w", pgdsn.Strip(server), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var allow bool
	if err := conn.QueryRow(ctx, `SELECT datallowconn FROM pg_database WHERE datname = $1`, name).Scan(&allow); err != nil {
		return fmt.Errorf("standby database %s: %w", name, err)
	}
	if !allow {
		return fixable(FixStandbyRepair, "", "standby database %s %w (ALLOW_CONNECTIONS false, left by an interrupted swap): "+
			"a failover onto it would fail", name, ErrServingClosed)
	}
	cfg, err = ConnConfig(withDatabase(server, name), "linkbackup-status")
	if err != nil {
		return err
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("standby database %s allows connections but a session to it fails: %w", name, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("standby database %s: a session opens but does not answer: %w", name, err)
	}
	return nil
}

// reopenCopies allows connections again to the serving copy name and to its previous
// copy, when they carry the standby mark and an interrupted swap left them closed. It
// returns the databases it reopened.
func reopenCopies(ctx context.Context, conn *pgx.Conn, name string, log *slog.Logger) ([]string, error) {
	var reopened []string
	for _, db := range []string{name, name + PreviousSuffix} {
		d, err := readSideDB(ctx, conn, db)
		if err != nil {
			return reopened, err
		}
		if !d.exists || d.allowConn || !hasStandbyMark(d.comment) {
			continue
		}
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+QuoteIdent(db)+" WITH ALLOW_CONNECTIONS true"); err != nil {
			return reopened, fmt.Errorf("allow connections to %s again: %w", db, err)
		}
		log.Warn("reopened a standby copy an interrupted swap left closed to connections", "database", db)
		reopened = append(reopened, db)
	}
	return reopened, nil
}

// RepairStandby reopens the serving copy name (and name__previous) on the standby server
// to connections after an interrupted swap, without restoring anything. It returns the
// databases it reopened (none: nothing needed it). A copy without the standby mark is
// left alone.
func RepairStandby(ctx context.Context, server, name string, log *slog.Logger) ([]string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := ConnConfig(server, "linkbackup-standby-repair")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to standby server %s: %w", pgdsn.Strip(server), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var connected string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&connected); err != nil {
		return nil, err
	}
	if connected == name || connected == name+PreviousSuffix {
		return nil, fixable(FixMaintenanceDB, "", "%w: the standby connection names %s itself, not a maintenance database on the standby server", ErrRefused, connected)
	}
	return reopenCopies(ctx, conn, name, log)
}
