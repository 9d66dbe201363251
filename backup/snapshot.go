package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
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
	// CompressionLevel is the zstd level (1 fastest). Default 1.
	CompressionLevel int
	// AppVersionQuery returns one value stamped into the manifest ("" = none).
	AppVersionQuery string
	// LockTimeout: how long to wait for a running backup of the same database. Default 0.
	LockTimeout time.Duration
	// OrphanAge: incomplete snapshots older than this are deleted. Default 24h; <0 never.
	OrphanAge time.Duration
	// SkipLargeObjects backs up a database that has large objects, without them (recorded
	// in the manifest). Without it such a backup is refused.
	SkipLargeObjects bool
	// AllowStandbySource backs up a database marked as a linkbackup standby copy.
	AllowStandbySource bool
	// TextFormat stores every table in COPY text format; by default tables whose column
	// types all have a portable binary form (catTable.Binary) use binary COPY.
	TextFormat bool
	// IncludeStateSchemas backs up linkbackup's own state schemas (StateSchemaPrefix) too.
	IncludeStateSchemas bool
	ToolVersion         string
	Log                 *slog.Logger
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

// ConnConfig parses dsn and applies SessionSettings and an application_name.
func ConnConfig(dsn, appName string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN %s: %w", StripPassword(dsn), redactErr(err))
	}
	for k, v := range SessionSettings {
		cfg.RuntimeParams[k] = v
	}
	if len(appName) > 63 {
		appName = appName[:63]
	}
	cfg.RuntimeParams["application_name"] = appName
	return cfg, nil
}

// redactErr drops pgx's echo of the connection string from parse errors.
func redactErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "cannot parse `"); i >= 0 {
		if j := strings.LastIndex(msg, "`:"); j > i {
			return errors.New(msg[:i] + "cannot parse connection string:" + msg[j+2:])
		}
	}
	return err
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
func Backup(ctx context.Context, opts Options) (*Manifest, error) {
	opts.defaults()
	log := opts.Log
	started := opts.now().UTC()

	host, _ := os.Hostname()
	appName := fmt.Sprintf("linkbackup@%s:%d", host, os.Getpid())
	cfg, err := ConnConfig(opts.Source, appName)
	if err != nil {
		return nil, err
	}
	// The coordinator session holds the lock and the exported snapshot; keepalives make a
	// vanished host's lock go away within ~2 minutes.
	ccfg := cfg.Copy()
	ccfg.RuntimeParams["tcp_keepalives_idle"] = "60"
	ccfg.RuntimeParams["tcp_keepalives_interval"] = "10"
	ccfg.RuntimeParams["tcp_keepalives_count"] = "6"
	coord, err := pgx.ConnectConfig(ctx, ccfg)
	if err != nil {
		return nil, fmt.Errorf("connect to source %s: %w", StripPassword(opts.Source), err)
	}
	defer coord.Close(context.WithoutCancel(ctx))

	m := &Manifest{Format: FormatVersion, Tool: opts.ToolVersion, Started: started, Compression: "zstd",
		Settings: SessionSettings, Excluded: Excluded{Schemas: opts.ExcludeSchemas, Tables: opts.ExcludeTables}}
	var comment *string
	err = coord.QueryRow(ctx, `SELECT current_database(), current_setting('server_version'),
		current_setting('server_version_num')::int, shobj_description(d.oid, 'pg_database'),
		pg_encoding_to_char(d.encoding), d.datcollate, d.datctype
		FROM pg_database d WHERE d.datname = current_database()`).
		Scan(&m.Database, &m.Server.Version, &m.Server.VersionNum, &comment, &m.Server.Encoding, &m.Server.Collate, &m.Server.Ctype)
	if err != nil {
		return nil, fmt.Errorf("read server info: %w", err)
	}
	if err := coord.QueryRow(ctx, `SELECT system_identifier::text FROM pg_control_system()`).Scan(&m.Server.SystemIdentifier); err != nil {
		log.Warn("cannot read the system identifier (pg_control_system); restores cannot tell this cluster apart", "err", err)
	}
	if comment != nil && strings.HasPrefix(*comment, StandbyMarkPrefix) {
		m.Server.Standby = *comment
		if !opts.AllowStandbySource {
			return nil, fmt.Errorf("database %s is a standby copy restored by linkbackup (%q): backing it up into "+
				"a store would mix a copy into the primary's snapshot history; point --source at the primary, "+
				"or pass --allow-standby-source to back up the copy on purpose", m.Database, *comment)
		}
	}

	dumpMajor, dumpVersion, err := PgDumpVersion(ctx, opts.PgDump)
	if err != nil {
		return nil, err
	}
	if err := CheckPgDump(opts.PgDump, dumpMajor, m.Server.VersionNum); err != nil {
		return nil, err
	}
	m.PgDump = dumpVersion

	key := lockKey(opts.Store.String(), m.Database)
	if err := acquireLock(ctx, coord, key, opts.LockTimeout,
		fmt.Sprintf("backup of database %s to %s", m.Database, opts.Store)); err != nil {
		return nil, err
	}
	// Runs before the deferred Close, after the deferred Rollback of the snapshot transaction.
	defer releaseLock(context.WithoutCancel(ctx), coord, key)
	if err := CleanOrphans(ctx, opts.Store, opts.OrphanAge, opts.now(), log); err != nil {
		log.Warn("orphan cleanup failed; continuing", "err", err)
	}

	// One snapshot for everything: exported by the coordinator, imported by every worker
	// and by pg_dump.
	tx, err := coord.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("export snapshot: %w", err)
	}
	if !opts.IncludeStateSchemas {
		state, err := stateSchemas(ctx, tx)
		if err != nil {
			return nil, err
		}
		for _, s := range state {
			if !slices.Contains(opts.ExcludeSchemas, s) {
				log.Info("leaving out linkbackup's own state schema (recreated by linkbackup migrate)", "schema", s)
				opts.ExcludeSchemas = append(slices.Clip(opts.ExcludeSchemas), s)
			}
		}
		m.Excluded.Schemas = opts.ExcludeSchemas
	}
	cat, err := readCatalog(ctx, tx, opts.ExcludeSchemas)
	if err != nil {
		return nil, err
	}
	if err := checkReadable(cat, opts.ExcludeTables); err != nil {
		return nil, err
	}
	if cat.LargeObjects > 0 {
		if !opts.SkipLargeObjects {
			return nil, fmt.Errorf("database %s has %d large objects (pg_largeobject); linkbackup does not back them up. "+
				"Move them into bytea columns, or set backup.skip_large_objects (--skip-large-objects) to back up "+
				"everything else and record them as skipped in the manifest", m.Database, cat.LargeObjects)
		}
		m.LargeObjects = cat.LargeObjects
		log.Warn("large objects are NOT in this snapshot (skip_large_objects)", "count", cat.LargeObjects)
	}
	if opts.AppVersionQuery != "" {
		var v any
		if err := tx.QueryRow(ctx, opts.AppVersionQuery).Scan(&v); err != nil {
			return nil, fmt.Errorf("backup.app_version_query: %w", err)
		}
		m.AppVersion = fmt.Sprint(v)
	}
	// Hold ACCESS SHARE locks (as pg_dump does) so no table is dropped or rewritten under us.
	if err := lockTables(ctx, tx, cat.Tables, opts.ExcludeTables); err != nil {
		return nil, err
	}
	// pg_dump locks every table it dumps, even schema-only: an excluded table the role
	// cannot read must be left out of the schema too.
	var dumpExclude []QualName
	for _, t := range cat.Tables {
		if !t.CanRead && matchTable(opts.ExcludeTables, t.Schema, t.Name) {
			dumpExclude = append(dumpExclude, QualName{Schema: t.Schema, Name: t.Name})
			log.Warn("excluded table is unreadable by the backup role: its definition is left out too", "table", t.Schema+"."+t.Name)
		}
	}
	m.MatViews = cat.MatViews
	if m.MatViews == nil {
		m.MatViews = []QualName{}
	}

	m.ID = opts.now().UTC().Format(IDFormat)
	if existing, err := opts.Store.List(ctx, SnapshotPrefix(m.ID)); err != nil {
		return nil, fmt.Errorf("store %s: %w", opts.Store, err)
	} else if len(existing) > 0 {
		return nil, fmt.Errorf("snapshot id %s already has objects in %s; retry in a second", m.ID, opts.Store)
	}
	prefix := SnapshotPrefix(m.ID)
	log.Info("backup started", "snapshot", m.ID, "database", m.Database, "server", m.Server.Version,
		"tables", len(cat.Tables), "jobs", opts.Jobs, "store", opts.Store.String())

	tasks := planTasks(m, cat, opts, prefix)
	opts.Progress.TablesTotal.Store(int64(len(m.Tables)))
	opts.Progress.ChunksTotal.Store(int64(len(tasks)))

	err = runBackup(ctx, opts, cfg, snapshot, m, tasks, prefix, dumpExclude)
	if err == nil {
		// Sequences after the data: their values then cover every copied row.
		m.Sequences, err = readSequences(ctx, tx, cat.Sequences)
	}
	if err == nil {
		m.Finished = opts.now().UTC()
		sumTotals(m)
		err = WriteManifest(ctx, opts.Store, m)
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

func checkReadable(cat *catalog, excludeTables []string) error {
	var denied []string
	for _, t := range cat.Tables {
		if !t.CanRead && !matchTable(excludeTables, t.Schema, t.Name) {
			denied = append(denied, t.Schema+"."+t.Name)
		}
	}
	denied = append(denied, cat.SeqNoRead...)
	if len(denied) == 0 {
		return nil
	}
	more := ""
	if len(denied) > 10 {
		more = fmt.Sprintf(" and %d more", len(denied)-10)
		denied = denied[:10]
	}
	return fmt.Errorf("the backup role cannot read %s%s: GRANT SELECT on them (or the role pg_read_all_data), "+
		"or exclude them with backup.exclude_tables / backup.exclude_schemas", strings.Join(denied, ", "), more)
}

func lockTables(ctx context.Context, tx pgx.Tx, tables []catTable, exclude []string) error {
	var all []string
	for _, t := range tables {
		if !matchTable(exclude, t.Schema, t.Name) {
			all = append(all, QuoteIdent(t.Schema)+"."+QuoteIdent(t.Name))
		}
	}
	const batch = 500
	for i := 0; i < len(all); i += batch {
		names := all[i:min(i+batch, len(all))]
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '60s'; LOCK TABLE "+strings.Join(names, ", ")+" IN ACCESS SHARE MODE"); err != nil {
			return fmt.Errorf("lock tables (something holds an exclusive lock, e.g. a migration): %w", err)
		}
	}
	return nil
}

// planTasks fills m.Tables and returns the COPY tasks, largest first.
func planTasks(m *Manifest, cat *catalog, opts Options, prefix string) []task {
	var tasks []task
	for _, ct := range cat.Tables {
		if matchTable(opts.ExcludeTables, ct.Schema, ct.Name) {
			continue
		}
		ti := len(m.Tables)
		t := Table{Schema: ct.Schema, Name: ct.Name, Columns: ct.Columns, Parent: ct.Parent}
		if ct.Binary && !opts.TextFormat {
			t.CopyFormat = CopyBinary
		}
		if t.Columns == nil {
			t.Columns = []string{}
		}
		m.Tables = append(m.Tables, t)
		ranges := splitBlocks(ct.Bytes, cat.BlockSize, opts.SplitTableBytes)
		if ranges == nil {
			tasks = append(tasks, task{table: ti, chunk: 0, sizeHint: ct.Bytes, sql: t.copySQL("TO STDOUT")})
			continue
		}
		for c, r := range ranges {
			tasks = append(tasks, task{table: ti, chunk: c, rangeDesc: r.String(), sizeHint: ct.Bytes / int64(len(ranges)),
				sql: t.copyRangeSQL(r)})
		}
	}
	for i := range tasks {
		t := &m.Tables[tasks[i].table]
		ext := "copy"
		if t.Binary() {
			ext = "pgcopy"
		}
		t.Chunks = append(t.Chunks, Chunk{Range: tasks[i].rangeDesc,
			Object: Object{Key: fmt.Sprintf("%sdata/%04d-%s.%04d.%s.zst", prefix, tasks[i].table, safeName(t.Schema+"."+t.Name), tasks[i].chunk, ext)}})
	}
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].sizeHint > tasks[j].sizeHint })
	return tasks
}

// copySQL is the COPY of all of t's rows in its column list and format; dir is
// "TO STDOUT" or "FROM STDIN".
func (t *Table) copySQL(dir string) string {
	cols := ""
	if len(t.Columns) > 0 {
		cols = " (" + columnList(t.Columns) + ")"
	}
	return "COPY " + t.QualifiedName() + cols + " " + dir + t.copyWith()
}

// copyRangeSQL is the COPY TO STDOUT of t's rows in block range r.
func (t *Table) copyRangeSQL(r blockRange) string {
	where := fmt.Sprintf("ctid >= '(%d,0)'::tid", r.lo)
	if r.hi >= 0 {
		where += fmt.Sprintf(" AND ctid < '(%d,0)'::tid", r.hi)
	}
	// A zero-column table gives "SELECT  FROM t": empty rows, as COPY t does.
	return "COPY (SELECT " + columnList(t.Columns) + " FROM ONLY " + t.QualifiedName() + " WHERE " + where + ") TO STDOUT" + t.copyWith()
}

// blockRange is the ctid range [lo, hi) of a table's blocks; hi < 0: to the end.
type blockRange struct{ lo, hi int64 }

func (r blockRange) String() string {
	if r.hi < 0 {
		return fmt.Sprintf("blocks [%d,end)", r.lo)
	}
	return fmt.Sprintf("blocks [%d,%d)", r.lo, r.hi)
}

// splitBlocks cuts a table of size bytes into ceil(size/split) ranges of equal block
// counts, the last one open-ended; nil (the whole table at once) when size <= split.
func splitBlocks(size, blockSize, split int64) []blockRange {
	if size <= split {
		return nil
	}
	n := (size + split - 1) / split
	blocks := (size + blockSize - 1) / blockSize
	per := (blocks + n - 1) / n
	out := make([]blockRange, n)
	for c := range out {
		out[c] = blockRange{int64(c) * per, int64(c+1) * per}
	}
	out[n-1].hi = -1
	return out
}

func columnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = QuoteIdent(c)
	}
	return strings.Join(q, ", ")
}

// safeName keeps key-friendly bytes of a table name and percent-encodes the rest.
func safeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 96; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// runBackup runs the COPY workers and the two pg_dump sections in parallel.
func runBackup(ctx context.Context, opts Options, cfg *pgx.ConnConfig, snapshot string, m *Manifest, tasks []task, prefix string, dumpExclude []QualName) error {
	var exSchemas []QualName
	for _, s := range opts.ExcludeSchemas {
		exSchemas = append(exSchemas, QualName{Name: s})
	}
	g, ctx := errgroup.WithContext(ctx)
	encs := newEncoders(opts.CompressionLevel)
	password := cfg.Password
	dumpDSN := StripPassword(opts.Source)
	for _, section := range []string{"pre-data", "post-data"} {
		g.Go(func() error {
			obj, err := putCompressed(ctx, opts.Store, encs, prefix+"schema/"+section+".sql.zst", 1<<20, func(w io.Writer) error {
				return pgDumpSchema(ctx, opts.PgDump, dumpDSN, password, snapshot, section, exSchemas, dumpExclude, w)
			})
			if err != nil {
				return fmt.Errorf("schema %s: %w", section, err)
			}
			if section == "pre-data" {
				m.PreData = obj
			} else {
				m.PostData = obj
			}
			return nil
		})
	}

	var mu sync.Mutex
	chunksLeft := make(map[int]int)
	for _, t := range tasks {
		chunksLeft[t.table]++
	}
	// Every worker session imports the coordinator's snapshot.
	open := func(ctx context.Context) (*pgx.Conn, error) {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("worker connect: %w", err)
		}
		if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("worker begin: %w", err)
		}
		if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snapshot+"'"); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("worker import snapshot: %w", err)
		}
		return conn, nil
	}
	g.Go(func() error {
		return eachOnSessions(ctx, tasks, opts.Jobs, open, func(ctx context.Context, conn *pgx.Conn, t task) error {
			mu.Lock()
			tbl := &m.Tables[t.table]
			key := tbl.Chunks[t.chunk].Key
			name := tbl.String()
			rd := RowDigester{Binary: tbl.Binary()}
			mu.Unlock()
			obj, err := putCompressed(ctx, opts.Store, encs, key, t.sizeHint, func(w io.Writer) error {
				pw := &progressWriter{w: io.MultiWriter(&rd, w), n: &opts.Progress.RawBytes}
				if _, err := conn.PgConn().CopyTo(ctx, pw, t.sql); err != nil {
					return fmt.Errorf("copy %s: %w", name, err)
				}
				return rd.Close()
			})
			if err != nil {
				return fmt.Errorf("table %s: %w", name, err)
			}
			mu.Lock()
			c := &tbl.Chunks[t.chunk]
			c.Object, c.Rows, c.Digest = obj, rd.Rows, rd.Digest.String()
			chunksLeft[t.table]--
			done := chunksLeft[t.table] == 0
			mu.Unlock()
			opts.Progress.ChunksDone.Add(1)
			opts.Progress.StoredBytes.Add(obj.Size)
			opts.Progress.Rows.Add(rd.Rows)
			if done {
				opts.Progress.TablesDone.Add(1)
			}
			opts.Log.Debug("chunk stored", "table", name, "chunk", t.chunk, "rows", rd.Rows,
				"raw_bytes", obj.RawSize, "stored_bytes", obj.Size)
			return nil
		})
	})
	return g.Wait()
}

type progressWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n.Add(int64(n))
	return n, err
}

// sumTotals fills table digests/rows from their chunks and the snapshot totals.
func sumTotals(m *Manifest) {
	m.Totals = Totals{Tables: len(m.Tables), Objects: 2}
	m.Totals.StoredBytes = m.PreData.Size + m.PostData.Size
	m.Totals.RawBytes = m.PreData.RawSize + m.PostData.RawSize
	for i := range m.Tables {
		t := &m.Tables[i]
		var d Digest
		t.Rows = 0
		for _, c := range t.Chunks {
			cd, _ := ParseDigest(c.Digest)
			d.Merge(cd)
			t.Rows += c.Rows
			m.Totals.StoredBytes += c.Size
			m.Totals.RawBytes += c.RawSize
			m.Totals.Objects++
		}
		t.Digest = d.String()
		m.Totals.Rows += t.Rows
	}
}

// removePartial deletes the objects of a failed snapshot (it has no manifest, so it is
// invisible already; this only frees space).
func removePartial(ctx context.Context, st Store, prefix string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	objs, err := st.List(ctx, prefix)
	if err != nil {
		log.Warn("cannot list partial snapshot for removal; the next backup cleans it up", "prefix", prefix, "err", err)
		return
	}
	for _, o := range objs {
		if err := st.Delete(ctx, o.Key); err != nil {
			log.Warn("cannot remove partial object; the next backup cleans it up", "key", o.Key, "err", err)
			return
		}
	}
}

// CleanOrphans deletes incomplete snapshots (objects under snapshots/<id>/ without a
// manifest) whose newest object is older than age. age < 0 disables it.
func CleanOrphans(ctx context.Context, st Store, age time.Duration, now time.Time, log *slog.Logger) error {
	if age < 0 {
		return nil
	}
	objs, err := st.List(ctx, SnapshotsPrefix)
	if err != nil {
		return err
	}
	type snap struct {
		keys     []string
		manifest bool
		newest   time.Time
	}
	snaps := map[string]*snap{}
	var order []string
	for _, o := range objs {
		id, name, ok := strings.Cut(strings.TrimPrefix(o.Key, SnapshotsPrefix), "/")
		if !ok {
			continue
		}
		s := snaps[id]
		if s == nil {
			s = &snap{}
			snaps[id] = s
			order = append(order, id)
		}
		s.keys = append(s.keys, o.Key)
		s.manifest = s.manifest || name == ManifestName
		if o.ModTime.After(s.newest) {
			s.newest = o.ModTime
		}
	}
	for _, id := range order {
		s := snaps[id]
		if s.manifest || now.Sub(s.newest) < age {
			continue
		}
		log.Info("removing incomplete snapshot (no manifest)", "snapshot", id, "objects", len(s.keys))
		for _, k := range s.keys {
			if err := st.Delete(ctx, k); err != nil {
				return fmt.Errorf("remove orphan %s: %w", k, err)
			}
		}
	}
	return nil
}
