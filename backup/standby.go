package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/jackc/pgx/v5"
)

// The standby database name always holds a complete, verified copy. A refresh restores
// into <db>__incoming, proves it, then swaps in one transaction:
// <db> → <db>__previous, <db>__incoming → <db>. Exactly one previous copy is kept.
const (
	IncomingSuffix = "__incoming"
	PreviousSuffix = "__previous"
	// incomingMark marks a side database being restored (or left by a failed night).
	incomingMark = "linkbackup:incoming"
)

// StandbyRecord is the readiness record of a standby copy: the database's
// COMMENT ON DATABASE ("linkbackup:standby " + JSON) on the standby server, and the same
// JSON in the store under standby/.
type StandbyRecord struct {
	Database       string    `json:"database"`        // serving name on the standby
	Snapshot       string    `json:"snapshot"`        // snapshot id
	SourceDatabase string    `json:"source_database"` // database the snapshot came from
	SourceSystemID string    `json:"source_system_identifier"`
	SourceTime     time.Time `json:"source_time"` // when the snapshot was taken: the data's age
	Verified       time.Time `json:"verified"`    // when every table was proven equal
	Tables         int       `json:"tables"`
	Rows           int64     `json:"rows"`
	Tool           string    `json:"tool_version"`
	StandbyHost    string    `json:"standby_system_identifier"`
	RestoreSeconds float64   `json:"restore_seconds"`
	SwapSeconds    float64   `json:"swap_seconds"`
	// TableRows are the proven rows per table, the baseline of the next night's
	// row-drop check.
	TableRows map[string]int64 `json:"table_rows,omitempty"`
	// Identity is the fingerprint of the identity that decrypted the snapshot: the drill
	// proves every night that the key still works ("" for a plaintext snapshot).
	Identity string `json:"identity,omitempty"`
	// Invariants are the drill's checks on this copy before it was served.
	Invariants []InvariantResult `json:"invariants,omitempty"`
}

// StandbyAttempt is the store's record of the last refresh attempt (ok or not), so that
// status can tell "last night failed" even when the standby itself is unreachable.
type StandbyAttempt struct {
	Database string         `json:"database"`
	Snapshot string         `json:"snapshot"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	OK       bool           `json:"ok"`
	Error    string         `json:"error,omitempty"`
	Serving  *StandbyRecord `json:"serving,omitempty"` // what the standby serves after the attempt
	// Invariants of the attempt's copy, also when they kept it from being served.
	Invariants []InvariantResult `json:"invariants,omitempty"`
}

// StandbyOptions configure RefreshStandby.
type StandbyOptions struct {
	Store Store
	ID    string // snapshot id
	// Server is a DSN to the standby server, on a maintenance database (e.g. postgres);
	// it must not be the standby database itself.
	Server string
	// Database is the serving name on the standby; default: the snapshot's database.
	Database string
	Jobs     int
	// Grace: how long connections to the serving copy may finish before the swap
	// terminates them. Default 30s.
	Grace time.Duration
	// Tablespace the copies are created in ("" = the server's default).
	Tablespace string
	// ToastCompression: see RestoreOptions.ToastCompression.
	ToastCompression string
	NoOwner          bool
	ForceSameCluster bool
	ToolVersion      string
	// Drill holds the invariants checked on the restored copy before the swap.
	Drill DrillOptions
	// Keys verify and decrypt the snapshot (see RestoreOptions.Keys).
	Keys *Keys
	// Hint words the fixes in the error recorded in the store (nil: none).
	Hint     Hinter
	Log      *slog.Logger
	Progress *Progress
}

// StandbyMark prefixes the readiness COMMENT ON DATABASE.
func standbyComment(r *StandbyRecord) string {
	b, _ := json.Marshal(r)
	return StandbyMarkPrefix + " " + string(b)
}

// RefreshStandby restores snapshot opts.ID into a side database on the standby server,
// proves it, and swaps it in. Any failure before the swap leaves the serving copy
// untouched and the side database dropped (or, if the server is gone, left behind
// under its __incoming name, marked, and dropped by the next run).
func RefreshStandby(ctx context.Context, opts StandbyOptions) (*StandbyRecord, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Grace == 0 {
		opts.Grace = 30 * time.Second
	}
	log := opts.Log
	started := time.Now().UTC()
	m, err := ReadTrustedManifest(ctx, opts.Store, opts.ID, opts.Keys, true, nil) // Restore warns when unauthenticated
	if err != nil {
		return nil, err
	}
	name := opts.Database
	if name == "" {
		name = m.Database
	}
	attempt := &StandbyAttempt{Database: name, Snapshot: m.ID, Started: started}
	// The standby lock keeps forget from removing the snapshot being restored (forget.go).
	unlock, err := lockSession(ctx, opts.Server, standbyLockKey(opts.Store.String(), m.Database), standbyLockWait,
		fmt.Sprintf("standby refresh of %s from %s", name, opts.Store))
	var rec *StandbyRecord
	if err == nil {
		defer unlock()
		rec, err = refreshStandby(ctx, opts, m, name)
	}
	attempt.Finished = time.Now().UTC()
	var ie *InvariantsError
	if errors.As(err, &ie) {
		attempt.Invariants = ie.Results
	} else if rec != nil {
		attempt.Invariants = rec.Invariants
	}
	if err != nil {
		attempt.Error = Message(err, opts.Hint)
		// What is serving now, if the server answers.
		if r, rerr := ReadStandbyRecord(context.WithoutCancel(ctx), opts.Server, name); rerr == nil {
			attempt.Serving = r
		}
	} else {
		attempt.OK, attempt.Serving = true, rec
		if derr := recordDrill(context.WithoutCancel(ctx), opts.Store, rec); derr != nil {
			log.Warn("cannot record the proven snapshot in the store's drill record; forget keeps it anyway by the attempt record", "err", derr)
		}
	}
	if werr := writeAttempt(context.WithoutCancel(ctx), opts.Store, attempt); werr != nil {
		log.Warn("cannot record the standby attempt in the store", "err", werr)
	}
	return rec, err
}

func refreshStandby(ctx context.Context, opts StandbyOptions, m *Manifest, name string) (*StandbyRecord, error) {
	log := opts.Log
	incoming, previous := name+IncomingSuffix, name+PreviousSuffix
	if len(previous) > 63 {
		return nil, fmt.Errorf("standby database name %q is too long for the %s/%s side names (63 bytes)", name, IncomingSuffix, PreviousSuffix)
	}
	cfg, err := ConnConfig(opts.Server, "linkbackup-standby")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to standby server %s: %w", pgdsn.Strip(opts.Server), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sysid, err := checkStandbyServer(ctx, conn, opts, m, name)
	if err != nil {
		return nil, err
	}
	if err := createIncoming(ctx, conn, opts, m, incoming); err != nil {
		return nil, err
	}
	t0 := time.Now()
	// The drill's invariants run inside the restore where they can (restore_checks.go).
	var checks *restoreChecks
	if invs := opts.Drill.invariantsFor(m); len(invs) > 0 {
		checks = newRestoreChecks(invs, opts.Drill.Timeout)
	}
	rep, err := Restore(ctx, RestoreOptions{Store: opts.Store, ID: m.ID, Target: withDatabase(opts.Server, incoming),
		Jobs: opts.Jobs, NoOwner: opts.NoOwner, ForceSameCluster: true, ToastCompression: opts.ToastCompression, Keys: opts.Keys, Log: log, Progress: opts.Progress,
		checks: checks})
	if errors.Is(err, ErrInvalidInvariant) {
		// Found before any data was loaded; worded as when the drill found it.
		dropSide(ctx, opts.Server, incoming, log)
		return nil, fmt.Errorf("standby copy of %s not served; %s keeps serving its previous copy: %w", m.ID, name, err)
	}
	if err != nil {
		dropSide(ctx, opts.Server, incoming, log)
		return nil, fmt.Errorf("standby restore of %s failed; %s keeps serving its previous copy: %w", m.ID, name, err)
	}
	rec := &StandbyRecord{Database: name, Snapshot: m.ID, SourceDatabase: m.Database, SourceSystemID: m.Server.SystemIdentifier,
		SourceTime: m.Started, Verified: rep.Verified, Tables: len(rep.Tables), Rows: rep.Rows, Tool: opts.ToolVersion,
		StandbyHost: sysid, RestoreSeconds: time.Since(t0).Seconds(), Identity: ProvingIdentity(m, opts.Keys)}
	if err := drillInvariants(ctx, opts, m, name, withDatabase(opts.Server, incoming), rep, rec, checks, log); err != nil {
		dropSide(ctx, opts.Server, incoming, log)
		return nil, fmt.Errorf("standby copy of %s not served; %s keeps serving its previous copy: %w", m.ID, name, err)
	}
	t1 := time.Now()
	if err := swap(ctx, conn, name, incoming, previous, rec, opts.Grace, log); err != nil {
		dropSide(ctx, opts.Server, incoming, log)
		return nil, fmt.Errorf("standby swap failed; %s keeps serving its previous copy: %w", name, err)
	}
	rec.SwapSeconds = time.Since(t1).Seconds()
	// Write the new copy's pages out now rather than at the next timed checkpoint: a copy
	// still in shared buffers can be lost to a disk that fills up later (measured: a
	// failed night on a full volume then left the serving copy unable to accept sessions).
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		log.Warn("CHECKPOINT after the swap failed (needs superuser or pg_checkpoint); the copy is durable through WAL", "err", err)
	}
	// Record the final figures (swap time) on the serving copy.
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+QuoteIdent(name)+" IS "+quoteLit(standbyComment(rec))); err != nil {
		log.Warn("cannot update the standby record", "err", err)
	}
	log.Info("standby refreshed", "database", name, "snapshot", m.ID, "rows", rec.Rows,
		"restore_seconds", rec.RestoreSeconds, "swap_seconds", rec.SwapSeconds)
	return rec, nil
}

// swap makes incoming the serving copy: connections to the current copy get grace to
// finish, then are terminated; both renames happen in one transaction.
func swap(ctx context.Context, conn *pgx.Conn, name, incoming, previous string, rec *StandbyRecord, grace time.Duration, log *slog.Logger) error {
	// The old previous copy goes only if it is still linkbackup's and nobody uses it.
	if err := dropSideChecked(ctx, conn, previous, "standby", hasStandbyMark); err != nil {
		return err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return renameInto(ctx, conn, rec, name, incoming, "")
	}
	// No new sessions on the old copy; let running ones finish within grace.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+QuoteIdent(name)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	reopen := func() {
		conn.Exec(context.WithoutCancel(ctx), "ALTER DATABASE "+QuoteIdent(name)+" WITH ALLOW_CONNECTIONS true")
	}
	deadline := time.Now().Add(grace)
	for {
		var n int
		// Autovacuum workers do not count: the rename stops them itself (measured: after
		// a refresh, autovacuum on the big new tables held a swap for the whole grace).
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1
			AND backend_type IS DISTINCT FROM 'autovacuum worker'`, name).Scan(&n); err != nil {
			reopen()
			return err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			log.Warn("terminating sessions on the old standby copy after the grace period", "database", name, "sessions", n, "grace", grace)
			if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
				reopen()
				return err
			}
			time.Sleep(200 * time.Millisecond)
			deadline = time.Now().Add(5 * time.Second)
			continue
		}
		select {
		case <-ctx.Done():
			reopen()
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := renameInto(ctx, conn, rec, name, incoming, previous); err != nil {
		reopen()
		return err
	}
	// The previous copy stays reachable for an operator who needs to fall back.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+QuoteIdent(previous)+" WITH ALLOW_CONNECTIONS true"); err != nil {
		log.Warn("cannot re-allow connections to the previous copy", "database", previous, "err", err)
	}
	return nil
}

// dropSide removes a failed side database; if the server is unreachable it stays,
// marked by its name and comment, and the next refresh drops it.
func dropSide(ctx context.Context, server, incoming string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cfg, err := ConnConfig(server, "linkbackup-standby-cleanup")
	if err == nil {
		var conn *pgx.Conn
		if conn, err = pgx.ConnectConfig(ctx, cfg); err == nil {
			defer conn.Close(ctx)
			err = dropOwnIncoming(ctx, conn, incoming)
		}
	}
	if err != nil {
		log.Warn("cannot drop the failed side database; the next refresh drops it", "database", incoming, "err", err)
	}
}

// ReadStandbyRecord reads the readiness record of database name on the standby server.
// It returns an error wrapping fs.ErrNotExist when the database does not exist or has no
// linkbackup record.
func ReadStandbyRecord(ctx context.Context, server, name string) (*StandbyRecord, error) {
	cfg, err := ConnConfig(server, "linkbackup-status")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to standby server %s: %w", pgdsn.Strip(server), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var comment *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("standby database %s: %w", name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	if comment == nil || !strings.HasPrefix(*comment, StandbyMarkPrefix+" ") {
		return nil, fmt.Errorf("standby database %s has no linkbackup record: %w", name, fs.ErrNotExist)
	}
	var r StandbyRecord
	if err := json.Unmarshal([]byte(strings.TrimPrefix(*comment, StandbyMarkPrefix+" ")), &r); err != nil {
		return nil, fmt.Errorf("standby record of %s is corrupt: %w", name, err)
	}
	return &r, nil
}

// StandbyAttemptKey is where the last refresh attempt of a standby database is recorded.
func StandbyAttemptKey(name string) string { return "standby/" + safeName(name) + ".json" }

func writeAttempt(ctx context.Context, st Store, a *StandbyAttempt) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	_, err = st.Put(ctx, StandbyAttemptKey(a.Database), bytes.NewReader(b))
	return err
}

// ReadStandbyAttempt reads the last refresh attempt recorded in the store for name.
func ReadStandbyAttempt(ctx context.Context, st Store, name string) (*StandbyAttempt, error) {
	return readAttempt(ctx, st, StandbyAttemptKey(name))
}

func quoteLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// withDatabase returns dsn with its database replaced (URL or key=value form).
func withDatabase(dsn, db string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return dsn + " dbname=" + quoteKV(db)
}

func quoteKV(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// checkStandbyServer refuses a standby connection that names the copy itself, a standby
// server that is the snapshot's source cluster, and a serving database without the
// standby mark. It returns the standby's system identifier ("" if unreadable).
func checkStandbyServer(ctx context.Context, conn *pgx.Conn, opts StandbyOptions, m *Manifest, name string) (string, error) {
	incoming, previous := name+IncomingSuffix, name+PreviousSuffix
	var connected string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&connected); err != nil {
		return "", err
	}
	if connected == name || connected == incoming || connected == previous {
		return "", fixable(FixMaintenanceDB, "", "%w: the standby connection names %s itself, not a maintenance database on the standby server", ErrRefused, connected)
	}
	sysid, err := systemIdentifier(ctx, conn)
	if !opts.ForceSameCluster {
		if err := unknownCluster(err, m, "standby server"); err != nil {
			return "", err
		}
	}
	if sysid != "" && sysid == m.Server.SystemIdentifier && !opts.ForceSameCluster {
		return "", fixable(FixStandbySameServer, "", "%w: the standby server is the snapshot's source cluster (%s); a standby must be another server", ErrRefused, sysid)
	}

	// Never replace a database linkbackup did not put there: a serving copy without the
	// standby mark was promoted (failover) or belongs to someone else.
	var comment *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name).Scan(&comment)
	if err == nil && (comment == nil || !strings.HasPrefix(*comment, StandbyMarkPrefix+" ")) {
		return "", fmt.Errorf("%w: database %s on the standby server has no linkbackup standby mark: it was promoted "+
			"(failover) or is not a linkbackup copy, and a refresh would replace it. If it is a stale copy, drop or "+
			"rename it; if it now serves production, point standby.server at a new standby", ErrRefused, name)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	// A swap interrupted after it closed a copy to new sessions left it closed.
	if _, err := reopenCopies(ctx, conn, name, opts.Log); err != nil {
		return "", err
	}
	// The swap will drop the previous copy: refuse now, before hours of restore, if it
	// may not (its mark gone, or someone serving from it).
	if _, err := checkSide(ctx, conn, previous, "standby", hasStandbyMark); err != nil {
		return "", err
	}
	return sysid, nil

}

// createIncoming creates the side database incoming (dropping one a failed night left)
// with the source's encoding and locale, and marks it as linkbackup's incoming copy.
func createIncoming(ctx context.Context, conn *pgx.Conn, opts StandbyOptions, m *Manifest, incoming string) error {
	// A side database left by a failed night goes first, if it is linkbackup's and unused.
	if err := dropSideChecked(ctx, conn, incoming, "incoming", hasIncomingMark); err != nil {
		return fmt.Errorf("leftover %s: %w", incoming, err)
	}
	create := "CREATE DATABASE " + QuoteIdent(incoming) + " TEMPLATE template0"
	if m.Server.Encoding != "" {
		create += fmt.Sprintf(" ENCODING %s LC_COLLATE %s LC_CTYPE %s", quoteLit(m.Server.Encoding), quoteLit(m.Server.Collate), quoteLit(m.Server.Ctype))
	}
	if opts.Tablespace != "" {
		create += " TABLESPACE " + QuoteIdent(opts.Tablespace)
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("create %s (the source's encoding and locale must exist on the standby): %w", incoming, err)
	}
	mark := fmt.Sprintf("%s snapshot=%s started=%s", incomingMark, m.ID, time.Now().UTC().Format(time.RFC3339))
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+QuoteIdent(incoming)+" IS "+quoteLit(mark)); err != nil {
		return err
	}
	return nil
}
