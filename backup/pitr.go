package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The nightly point-in-time proof (ProvePITR): the newest base backup plus the archived
// WAL, recovered in a scratch cluster to exactly a snapshot's WAL point, must hold the
// snapshot's rows, table by table (count and digest). Its record:
//
//	pitr/<database>.json   the last proof of that database's snapshots
const PITRPrefix = "pitr/"

// PITRKey is where the point-in-time proof record of database db lives.
func PITRKey(db string) string { return PITRPrefix + safeName(db) + ".json" }

// PITRRecord is the result of one point-in-time proof.
type PITRRecord struct {
	Database string `json:"database"`
	Snapshot string `json:"snapshot"`
	// PointTime is when the snapshot's WAL point was taken: what recovery was proven to.
	PointTime  time.Time `json:"point_time"`
	LSN        string    `json:"lsn,omitempty"`
	Timeline   int       `json:"timeline,omitempty"`
	BaseBackup string    `json:"base_backup,omitempty"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
	// Reached is the recovered server's WAL position after promotion.
	Reached string `json:"reached_lsn,omitempty"`
	Tables  int    `json:"tables"`
	Rows    int64  `json:"rows"`
	// Mismatches are the tables whose recovered rows differ from the snapshot's.
	Mismatches      []TableCheck `json:"mismatches,omitempty"`
	RecoverySeconds float64      `json:"recovery_seconds"`
	ProofSeconds    float64      `json:"proof_seconds"`
	// LastProven is the newest point proven by an earlier successful proof, kept when
	// this one failed (zero when none).
	LastProven *time.Time `json:"last_proven,omitempty"`
}

// PITROptions configure ProvePITR.
type PITROptions struct {
	Store    Store
	Keys     *Keys
	Snapshot string // id of the logical snapshot to prove against
	// ScratchDir is where the scratch data directory is made ("" = the system's temp
	// directory); it needs room for one base backup plus the replayed WAL.
	ScratchDir string
	// Wait: how long to wait for the WAL holding the snapshot's point to be archived
	// (default 5m).
	Wait time.Duration
	Jobs int
	// User is the role to connect to the recovered server as, over its private socket
	// (default "postgres": the role initdb made).
	User           string
	PgVerifybackup string
	Log            *slog.Logger
	now            func() time.Time
}

// ProvePITR recovers the newest base backup before snapshot o.Snapshot's WAL point plus
// the archive to exactly that point in a scratch cluster, recomputes every table's row
// count and digest there and compares them with the snapshot's manifest. It writes the
// result to pitr/<database>.json, also when the proof fails, and removes the scratch
// cluster. A snapshot without a WAL point, missing WAL or a mismatch is an error that
// says which.
func ProvePITR(ctx context.Context, o PITROptions) (*PITRRecord, error) {
	if o.Log == nil {
		o.Log = discardLog()
	}
	if o.now == nil {
		o.now = time.Now
	}
	m, err := ReadTrustedManifest(ctx, o.Store, o.Snapshot, o.Keys, false, o.Log)
	if err != nil {
		return nil, err
	}
	rec := &PITRRecord{Database: m.Database, Snapshot: m.ID, Started: o.now().UTC()}
	if old, err := ReadPITR(ctx, o.Store, m.Database); err == nil {
		rec.LastProven = old.LastProven
		if old.OK {
			rec.LastProven = &old.PointTime
		}
	}
	err = o.prove(ctx, m, rec)
	rec.Finished = o.now().UTC()
	rec.OK = err == nil
	if err != nil {
		rec.Error = err.Error()
	}
	if werr := writeJSON(context.WithoutCancel(ctx), o.Store, PITRKey(m.Database), rec); werr != nil {
		err = errors.Join(err, fmt.Errorf("write the point-in-time proof record: %w", werr))
	}
	return rec, err
}

func (o PITROptions) prove(ctx context.Context, m *Manifest, rec *PITRRecord) error {
	p := m.WALPoint
	if p == nil {
		return fmt.Errorf("%w: snapshot %s has no WAL position, so no recovery can be compared with it: the source needs "+
			"wal_level = logical and a backup role with REPLICATION (see backup.wal_point)", ErrRefused, m.ID)
	}
	rec.PointTime, rec.LSN, rec.Timeline = p.Time, p.LSN, p.Timeline
	if err := o.waitArchived(ctx, p); err != nil {
		return err
	}
	parent, dir, err := ScratchDataDir(o.ScratchDir, o.Log)
	if err != nil {
		return err
	}
	defer RemoveScratch(parent)
	t0 := time.Now()
	rep, err := Recover(ctx, RecoverOptions{Store: o.Store, Keys: o.Keys, PGData: dir, ToLSN: p.LSN, Exclusive: true,
		Timeline: p.Timeline, PrivateTrust: true, Feed: true, PgVerifybackup: o.PgVerifybackup, Log: o.Log})
	if err != nil {
		return fmt.Errorf("point-in-time recovery to snapshot %s (lsn %s): %w", m.ID, p.LSN, err)
	}
	defer rep.Close()
	rec.BaseBackup = rep.Base.ID
	port, err := FreePort()
	if err != nil {
		return err
	}
	user := o.User
	if user == "" {
		user = "postgres"
	}
	r, err := StartRecovered(ctx, dir, port, user)
	defer func() { // also after a failed start: a server may be up that never finished recovery
		StopRecovered(dir)
		if r != nil {
			os.RemoveAll(r.SocketDir)
		}
	}()
	if err != nil {
		return fmt.Errorf("point-in-time recovery to snapshot %s (lsn %s, base backup %s): %w", m.ID, p.LSN, rep.Base.ID,
			errors.Join(rep.FeedErr(), err))
	}
	rec.Reached = r.LSN
	rec.RecoverySeconds = time.Since(t0).Seconds()
	t1 := time.Now()
	checks, err := proveRecovered(ctx, r, user, m, o.Jobs)
	rec.ProofSeconds = time.Since(t1).Seconds()
	if err != nil {
		return err
	}
	rec.Tables = len(checks)
	var bad []string
	for _, c := range checks {
		rec.Rows += c.Rows
		if !c.OK {
			rec.Mismatches = append(rec.Mismatches, c)
			bad = append(bad, fmt.Sprintf("%s (recovered %d rows digest %s, snapshot %d rows digest %s)",
				c.Table, c.Rows, c.Digest, c.ManifestRows, c.ManifestDigest))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("point-in-time recovery to snapshot %s (lsn %s, base backup %s): %w: %s",
			m.ID, p.LSN, rep.Base.ID, ErrMismatch, strings.Join(bad, "; "))
	}
	o.Log.Info("point-in-time recovery proven", "snapshot", m.ID, "lsn", p.LSN, "base_backup", rep.Base.ID,
		"tables", rec.Tables, "rows", rec.Rows, "recovery_seconds", rec.RecoverySeconds)
	return nil
}

// proveRecovered recomputes the snapshot's tables in the recovered server's copy of its
// database.
func proveRecovered(ctx context.Context, r *Recovered, user string, m *Manifest, jobs int) ([]TableCheck, error) {
	dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s", r.SocketDir, r.Port, user, quoteConnValue(m.Database))
	cfg, err := ConnConfig(dsn, "linkbackup point-in-time proof")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database %s in the recovered cluster: %w", m.Database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if jobs <= 0 {
		jobs = 2
	}
	return proveTables(ctx, conn, cfg, m.Tables, jobs)
}

// waitArchived waits until the segment that holds the snapshot's point (or, after the
// WAL switch the backup asked for, the switched segment) is in the archive.
func (o PITROptions) waitArchived(ctx context.Context, p *WALPoint) error {
	last, err := ParseLSN(p.LSN)
	if err != nil {
		return err
	}
	if sw, err := ParseLSN(p.SwitchLSN); err == nil && sw > last {
		last = sw - 1
	}
	seg, _ := StartSegment(p.Timeline, last.String())
	key, _ := walKey(seg)
	wait := o.Wait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	deadline := time.Now().Add(wait)
	for {
		_, err := readWALRecord(ctx, o.Store, key)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("WAL segment %s: %w", seg, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: WAL segment %s, which holds snapshot point %s, was not archived within %s: "+
				"is archive_command `linkbackup wal-push %%p` working on the source (pg_stat_archiver)?", ErrRefused, seg, p.LSN, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// ReadPITR reads the point-in-time proof record of database db (fs.ErrNotExist: none yet).
func ReadPITR(ctx context.Context, st Store, db string) (*PITRRecord, error) {
	return readRecord[PITRRecord](ctx, st, PITRKey(db), 4<<20, "point-in-time proof record", "")
}

// FreePort returns a TCP port free on the loopback interface now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quoteConnValue quotes a key=value connection string value.
func quoteConnValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
