package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// WAL point modes (Options.WALPoint, config backup.wal_point).
const (
	// WALPointAuto takes the snapshot from a temporary logical replication slot when the
	// source can (wal_level = logical, a role with REPLICATION), and an ordinary exported
	// snapshot otherwise.
	WALPointAuto = "auto"
	// WALPointRequired fails the backup when the snapshot cannot get a WAL position.
	WALPointRequired = "required"
	// WALPointOff never creates a slot.
	WALPointOff = "off"
)

// WALPoint is the exact WAL position of a snapshot's view of the data: the consistent
// point of the temporary logical replication slot whose exported snapshot every COPY and
// pg_dump of the snapshot ran in. Every transaction whose commit record lies before LSN
// is in the snapshot, none after it, so a physical recovery that stops just before LSN
// (recovery_target_lsn = LSN, recovery_target_inclusive = off) holds exactly the
// snapshot's rows: the nightly point-in-time proof compares the two.
type WALPoint struct {
	LSN      string    `json:"lsn"`
	Timeline int       `json:"timeline"`
	Time     time.Time `json:"time"` // when the slot became consistent (this host's clock)
	Method   string    `json:"method"`
	// SwitchLSN: pg_switch_wal() right after the slot, so the segment holding LSN is
	// archived at once rather than at the next archive_timeout ("" when the role may not).
	SwitchLSN string `json:"switch_lsn,omitempty"`
}

// walPointMethod names how WALPoint was obtained.
const walPointMethod = "logical replication slot exported snapshot"

// slotSnapshot is a temporary logical slot's exported snapshot, valid while repl stays
// idle and open.
type slotSnapshot struct {
	repl  *pgconn.PgConn
	name  string
	point *WALPoint
}

// openSlotSnapshot creates a temporary logical replication slot with an exported
// snapshot on a replication connection to the source. It returns (nil, nil) when the
// mode is off, or auto and the source cannot (wal_level is not logical, the role lacks
// REPLICATION, or the slot could not be created within timeout: it waits for the
// transactions running at that moment), after logging why.
func openSlotSnapshot(ctx context.Context, coord *pgx.Conn, cfg *pgx.ConnConfig, opts *Options) (*slotSnapshot, error) {
	mode := opts.WALPoint
	if mode == "" {
		mode = WALPointAuto
	}
	if mode == WALPointOff {
		return nil, nil
	}
	// A source without logical WAL did not ask for a point (debug); one with it did and
	// is told why it gets none (warning).
	logicalWAL := false
	fail := func(err error) (*slotSnapshot, error) {
		if mode == WALPointRequired {
			return nil, fmt.Errorf("backup.wal_point is required: %w", err)
		}
		lvl := slog.LevelDebug
		if logicalWAL {
			lvl = slog.LevelWarn
		}
		opts.Log.Log(ctx, lvl, "snapshot without a WAL position: the nightly point-in-time proof cannot check it", "reason", err.Error())
		return nil, nil
	}
	var walLevel string
	var canReplicate bool
	if err := coord.QueryRow(ctx, `SELECT current_setting('wal_level'),
		(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)`).Scan(&walLevel, &canReplicate); err != nil {
		return nil, fmt.Errorf("read wal_level: %w", err)
	}
	logicalWAL = walLevel == "logical"
	switch {
	case walLevel != "logical":
		return fail(fmt.Errorf("wal_level is %s; an exact WAL position needs wal_level = logical", walLevel))
	case !canReplicate:
		return fail(errors.New("the backup role lacks REPLICATION (ALTER ROLE … REPLICATION) to create a temporary logical slot"))
	}
	timeout := opts.WALPointTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc := cfg.Config.Copy()
	rc.RuntimeParams["replication"] = "database"
	repl, err := pgconn.ConnectConfig(sctx, rc)
	if err != nil {
		return fail(fmt.Errorf("replication connection: %w", err))
	}
	s, err := createSlotSnapshot(sctx, repl)
	if err != nil {
		repl.Close(context.WithoutCancel(ctx))
		if sctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("the slot waited %s for running transactions to finish (backup.wal_point_timeout): %w", timeout, err)
		}
		return fail(err)
	}
	s.point.Time = opts.now().UTC()
	return s, nil
}

func createSlotSnapshot(ctx context.Context, repl *pgconn.PgConn) (*slotSnapshot, error) {
	sys, err := pglogrepl.IdentifySystem(ctx, repl)
	if err != nil {
		return nil, fmt.Errorf("IDENTIFY_SYSTEM: %w", err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	slot := "linkbackup_" + hex.EncodeToString(rnd[:])
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Temporary: true, SnapshotAction: "EXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication})
	if err != nil {
		return nil, fmt.Errorf("create temporary logical slot: %w", err)
	}
	if res.SnapshotName == "" || res.ConsistentPoint == "" {
		return nil, errors.New("create temporary logical slot: the server returned no snapshot")
	}
	return &slotSnapshot{repl: repl, name: res.SnapshotName,
		point: &WALPoint{LSN: res.ConsistentPoint, Timeline: int(sys.Timeline), Method: walPointMethod}}, nil
}

// release asks for a WAL switch, so that the segment holding the point is archived now
// rather than at the next archive_timeout, and closes the replication connection
// (dropping the temporary slot). Call it only after the coordinator imported the
// snapshot: the next command on repl ends the exported snapshot, and the coordinator's
// transaction keeps it alive from then on.
func (s *slotSnapshot) release(ctx context.Context, log *slog.Logger) {
	res, err := s.repl.Exec(ctx, "SELECT pg_switch_wal()::text").ReadAll()
	switch {
	case err != nil:
		log.Warn("pg_switch_wal() refused: the WAL holding this snapshot's point is archived at the next archive_timeout "+
			"(GRANT EXECUTE ON FUNCTION pg_switch_wal() TO the backup role to archive it at once)", "err", err)
	case len(res) == 1 && len(res[0].Rows) == 1:
		s.point.SwitchLSN = string(res[0].Rows[0][0])
	}
	s.repl.Close(context.WithoutCancel(ctx))
}

// close drops the slot without a switch (a failed backup).
func (s *slotSnapshot) close(ctx context.Context) {
	if s != nil && !s.repl.IsClosed() {
		s.repl.Close(context.WithoutCancel(ctx))
	}
}
