package backup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// SessionSettings fix how values print in COPY text, so that the digests of the source
// and of a restored copy are comparable. Every backup and restore session uses them.
var SessionSettings = map[string]string{
	"TimeZone":                    "UTC",
	"DateStyle":                   "ISO, YMD",
	"IntervalStyle":               "postgres",
	"extra_float_digits":          "3",
	"bytea_output":                "hex",
	"client_encoding":             "UTF8",
	"standard_conforming_strings": "on",
	"lc_monetary":                 "C",
	// Fail instead of silently copying fewer rows when row-level security applies.
	"row_security": "off",
	// A long COPY or the idle snapshot-holding session must not be cut off by server defaults.
	"statement_timeout":                   "0",
	"idle_in_transaction_session_timeout": "0",
}

// StateSchemaPrefix starts the COMMENT ON SCHEMA of schemas holding linkbackup's own
// state (River jobs, the mail ledger; see mailer/weekly). A backup leaves such schemas
// out by default: `linkbackup migrate` recreates them, and a restored copy must not carry
// a second queue of the same mail.
const StateSchemaPrefix = "linkbackup state"

// StandbyMarkPrefix starts the COMMENT ON DATABASE of a database that linkbackup restored
// as a standby copy. A backup refuses such a source unless told otherwise, so a restored
// standby cannot write into the primary's snapshot history by mistake.
const StandbyMarkPrefix = "linkbackup:standby"

// Options configure one backup.
type Options struct {
	Source string // DSN of the database to back up
	Store  Store
	Jobs   int    // parallel COPY workers (connections); default 4
	PgDump string // pg_dump binary; default "pg_dump"
	// ExcludeSchemas: left out entirely. ExcludeTables: "schema.table" (or schema.*) whose
	// data is left out (the definition stays).
	ExcludeSchemas, ExcludeTables []string
	// SplitTableBytes: larger tables are copied as several ctid ranges. Default 64 MiB.
	SplitTableBytes int64
	// Compression is the codec of the snapshot's objects: CompressionS2 or
	// CompressionZstd (codec.go). Default DefaultCompression.
	Compression string
	// CompressionLevel is the zstd level (1 fastest); s2 has none. Default 1.
	CompressionLevel int
	// AppVersionQuery returns one value stamped into the manifest ("" = none).
	AppVersionQuery string
	// LockTimeout: how long to wait for a running backup of the same database. Default 0.
	LockTimeout time.Duration
	// OrphanAge: incomplete snapshots older than this are deleted. Default 24h; <0 never.
	OrphanAge time.Duration
	// SkipLargeObjects leaves large objects out (their number is recorded in the
	// manifest). Without it they are backed up (Manifest.LargeObjectData).
	SkipLargeObjects bool
	// AllowStandbySource backs up a database marked as a linkbackup standby copy.
	AllowStandbySource bool
	// TextFormat stores every table in COPY text format; by default tables whose column
	// types all have a portable binary form (catTable.Binary) use binary COPY.
	TextFormat bool
	// Keys: with recipients, the content objects are encrypted to them; with a signer,
	// the manifest is signed (nil: plaintext, unsigned).
	Keys *Keys
	// StateSchema names linkbackup's own state schema ("" = none). It is left out only
	// when its comment starts with StateSchemaPrefix and it holds exactly the state
	// tables: every StateTables pattern (LIKE) matches one of its tables and each of its
	// tables matches a pattern. Otherwise it is backed up, with a warning; no other
	// schema is ever left out for its comment.
	StateSchema string
	StateTables []string
	// IncludeStateSchemas backs up linkbackup's own state schema (StateSchema) too.
	IncludeStateSchemas bool
	// WALPoint: WALPointAuto (""), WALPointRequired or WALPointOff: whether the snapshot
	// comes from a temporary logical replication slot, which gives it an exact WAL
	// position (Manifest.WALPoint) for the point-in-time proof.
	WALPoint string
	// WALPointTimeout bounds how long creating the slot may wait for the transactions
	// running at that moment (default 30s); in auto mode the backup then goes on
	// without a WAL position.
	WALPointTimeout time.Duration
	ToolVersion     string
	Log             *slog.Logger
	// Progress, if set, is updated while the backup runs.
	Progress *Progress
	// now is the clock (tests).
	now func() time.Time
}

// Progress counts a running backup or verify; safe to read concurrently.
type Progress struct {
	TablesTotal, TablesDone atomic.Int64
	ChunksTotal, ChunksDone atomic.Int64
	RawBytes, StoredBytes   atomic.Int64
	Rows                    atomic.Int64
}

func (o *Options) defaults() {
	if o.Jobs <= 0 {
		o.Jobs = 4
	}
	if o.PgDump == "" {
		o.PgDump = "pg_dump"
	}
	if o.SplitTableBytes <= 0 {
		o.SplitTableBytes = 64 << 20
	}
	if o.CompressionLevel <= 0 {
		o.CompressionLevel = 1
	}
	if o.Compression == "" {
		o.Compression = DefaultCompression
	}
	if o.OrphanAge == 0 {
		o.OrphanAge = 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.ToolVersion == "" {
		o.ToolVersion = "dev"
	}
}

// task is one COPY stream: a whole table or one ctid range of it.
type task struct {
	table, chunk int
	sql          string
	rangeDesc    string
	sizeHint     int64
}

// Backup takes one consistent snapshot of opts.Source into opts.Store and returns its
// manifest. The manifest is written last, only when every object is stored and checked;
// on error no manifest exists and the partial objects are removed (or, if that fails,
// left for the next run's orphan cleanup).
//
// The steps, each in its own file: connect and read the server (connect.go), plan the
// tables under one exported snapshot (snapshot_plan.go), copy schema and data
// (snapshot_copy.go), write the manifest (manifest.go); orphans.go removes what a failed
// run left behind.
func Backup(ctx context.Context, opts Options) (*Manifest, error) {
	opts.defaults()
	log := opts.Log
	src, err := openSource(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer src.coord.Close(context.WithoutCancel(ctx))
	m := src.m

	key := lockKey(opts.Store.String(), m.Database)
	if err := acquireLock(ctx, src.coord, key, opts.LockTimeout,
		fmt.Sprintf("backup of database %s to %s", m.Database, opts.Store)); err != nil {
		return nil, err
	}
	// Runs before the deferred Close, after the deferred Rollback of the snapshot transaction.
	defer releaseLock(context.WithoutCancel(ctx), src.coord, key)
	if err := CleanOrphans(ctx, opts.Store, opts.OrphanAge, opts.now(), log); err != nil {
		log.Warn("orphan cleanup failed; continuing", "err", err)
	}

	// One snapshot for everything: exported by the coordinator, imported by every worker
	// and by pg_dump.
	// With a WAL position, the coordinator imports a temporary logical slot's snapshot
	// first (walpoint.go) and re-exports it.
	slot, err := openSlotSnapshot(ctx, src.coord, src.cfg, &opts)
	if err != nil {
		return nil, err
	}
	defer slot.close(ctx)
	tx, err := src.coord.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if slot != nil {
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+slot.name+"'"); err != nil {
			return nil, fmt.Errorf("import the slot's snapshot: %w", err)
		}
		slot.release(ctx, log)
		m.WALPoint = slot.point
		log.Info("snapshot at an exact WAL position", "lsn", m.WALPoint.LSN, "timeline", m.WALPoint.Timeline, "switch_lsn", m.WALPoint.SwitchLSN)
	}
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("export snapshot: %w", err)
	}
	plan, err := planSnapshot(ctx, tx, &opts, m)
	if err != nil {
		return nil, err
	}
	prefix := SnapshotPrefix(m.ID)
	log.Info("backup started", "snapshot", m.ID, "database", m.Database, "server", m.Server.Version,
		"tables", len(plan.cat.Tables), "jobs", opts.Jobs, "store", opts.Store.String())
	tasks := planTasks(m, plan.cat, opts, prefix)
	opts.Progress.TablesTotal.Store(int64(len(m.Tables)))
	opts.Progress.ChunksTotal.Store(int64(len(tasks)))

	err = runBackup(ctx, opts, src.cfg, snapshot, m, tasks, prefix, plan.dumpExclude)
	if err == nil && plan.cat.LargeObjects > 0 && !opts.SkipLargeObjects {
		m.LargeObjectData, err = dumpLargeObjects(ctx, tx, opts, prefix)
	}
	if err == nil {
		// Sequences after the data: their values then cover every copied row.
		m.Sequences, err = readSequences(ctx, tx, plan.cat.Sequences)
	}
	if err == nil {
		m.Finished = opts.now().UTC()
		sumTotals(m)
		err = writeManifest(ctx, opts.Store, m, opts.Keys.signer())
	}
	if err != nil {
		removePartial(context.WithoutCancel(ctx), opts.Store, prefix, log)
		return nil, err
	}
	log.Info("backup finished", "snapshot", m.ID, "tables", m.Totals.Tables, "rows", m.Totals.Rows,
		"raw_bytes", m.Totals.RawBytes, "stored_bytes", m.Totals.StoredBytes,
		"seconds", m.Finished.Sub(m.Started).Seconds())
	return m, nil
}
