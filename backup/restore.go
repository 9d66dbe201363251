package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	Store  Store
	ID     string // snapshot id (resolve "latest" etc. with ResolveSnapshot first)
	Target string // DSN of the target database (it must exist)
	Jobs   int    // parallel COPY / index sessions; default 4
	// Force restores into a database that already has tables: every non-system schema of
	// the target is dropped first (with --tables: the listed tables are truncated).
	Force bool
	// ForceSameCluster allows restoring into the snapshot's own source database.
	ForceSameCluster bool
	// AllowDowngrade allows a target server older than the snapshot's source (warns).
	AllowDowngrade bool
	// NoOwner leaves out ALTER … OWNER TO (objects belong to the restoring role).
	NoOwner bool
	// Tables, if set, restores only the data of these tables ("schema.table" or "table"
	// for public) into a target that already has them (empty, or truncated with Force);
	// no schema is created.
	Tables   []string
	Log      *slog.Logger
	Progress *Progress
}

// TableCheck is one table's proof after a restore.
type TableCheck struct {
	Table          string `json:"table"`
	Rows           int64  `json:"rows"`
	Digest         string `json:"digest"`
	ManifestRows   int64  `json:"manifest_rows"`
	ManifestDigest string `json:"manifest_digest"`
	OK             bool   `json:"ok"`
}

// RestoreReport is what Restore did and proved.
type RestoreReport struct {
	ID       string             `json:"id"`
	Database string             `json:"source_database"`
	Tables   []TableCheck       `json:"tables"`
	Rows     int64              `json:"rows"`
	Phases   map[string]float64 `json:"phase_seconds"`
	Verified time.Time          `json:"verified"`
}

// Sentinel errors of restores.
var (
	// ErrRefused: a safety rail stopped the restore before it changed anything.
	ErrRefused = errors.New("restore refused")
	// ErrMismatch: a restored table's rows or digest differ from the manifest.
	ErrMismatch = errors.New("restored data differs from the snapshot")
)

func (o *RestoreOptions) defaults() {
	if o.Jobs <= 0 {
		o.Jobs = 4
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
}

// Restore loads snapshot opts.ID into opts.Target: pre-data schema, table data in
// parallel (every object's SHA-256 checked while streaming), indexes and primary/unique
// keys in parallel, then the proof (every table's rows and digest recomputed from the
// target and compared with the manifest, large tables in parallel ctid ranges) while the
// rest of post-data and the foreign keys run, then sequences, materialized views and
// ANALYZE. Any difference fails the restore and names the table.
func Restore(ctx context.Context, opts RestoreOptions) (*RestoreReport, error) {
	opts.defaults()
	log := opts.Log
	m, err := ReadManifest(ctx, opts.Store, opts.ID)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	cfg, err := ConnConfig(opts.Target, fmt.Sprintf("linkbackup-restore@%s:%d", host, os.Getpid()))
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["synchronous_commit"] = "off"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to target %s: %w", StripPassword(opts.Target), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	tables, err := selectTables(m, opts.Tables)
	if err != nil {
		return nil, err
	}
	if err := checkRails(ctx, conn, m, opts, log); err != nil {
		return nil, err
	}
	rep := &RestoreReport{ID: m.ID, Database: m.Database, Phases: map[string]float64{}}
	phase := func(name string, start time.Time) {
		rep.Phases[name] = time.Since(start).Seconds()
		log.Info("restore phase done", "phase", name, "seconds", rep.Phases[name])
	}

	var post *dumpScript
	if len(opts.Tables) == 0 {
		t0 := time.Now()
		if opts.Force {
			if err := dropUserSchemas(ctx, conn); err != nil {
				return nil, err
			}
		}
		pre, err := readScript(ctx, opts.Store, m.PreData)
		if err != nil {
			return nil, err
		}
		if err := execScript(ctx, conn, pre.script(opts.NoOwner)); err != nil {
			return nil, fmt.Errorf("restore schema (pre-data): %w", err)
		}
		if post, err = readScript(ctx, opts.Store, m.PostData); err != nil {
			return nil, err
		}
		phase("pre-data", t0)
	} else if opts.Force {
		var names []string
		for _, t := range tables {
			names = append(names, t.QualifiedName())
		}
		if _, err := conn.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")); err != nil {
			return nil, fmt.Errorf("truncate %s: %w", strings.Join(names, ", "), err)
		}
	}

	t0 := time.Now()
	if err := loadData(ctx, opts, cfg, tables); err != nil {
		return nil, err
	}
	phase("data", t0)

	// Indexes first: a primary key or unique constraint holds an ACCESS EXCLUSIVE lock on
	// its table while it builds, which would stall a concurrent read of the table.
	var pd *postData
	if post != nil {
		pd = newPostData(cfg, post, opts)
		t0 = time.Now()
		if err := pd.indexes(ctx); err != nil {
			return nil, err
		}
		phase("indexes", t0)
	}

	// The proof reads every table back (large tables in several ctid ranges, so that
	// every session has work) while the rest of post-data runs: foreign-key validation,
	// serialized per table by its lock, leaves cores idle that the proof uses; reading
	// does not conflict with it. A mismatch is reported before any constraint error (bad
	// rows can also break a foreign key; the proof names the table).
	t0 = time.Now()
	proofCtx, stopProof := context.WithCancel(ctx)
	defer stopProof()
	var checks []TableCheck
	var proofErr, postErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if checks, proofErr = proveTables(proofCtx, conn, cfg, tables, opts.Jobs); proofErr != nil {
			stopProof()
		}
	}()
	if pd != nil {
		postErr = pd.constraints(proofCtx)
	}
	wg.Wait()
	if pd != nil {
		phase("proof+constraints", t0)
	} else {
		phase("proof", t0)
	}
	if proofErr != nil {
		return nil, proofErr
	}
	rep.Tables = checks
	var bad []string
	for _, c := range checks {
		rep.Rows += c.Rows
		if !c.OK {
			bad = append(bad, fmt.Sprintf("%s (restored %d rows digest %s, snapshot %d rows digest %s)",
				c.Table, c.Rows, c.Digest, c.ManifestRows, c.ManifestDigest))
		}
	}
	if len(bad) > 0 {
		return rep, fmt.Errorf("snapshot %s: %w: %s", m.ID, ErrMismatch, strings.Join(bad, "; "))
	}
	if postErr != nil {
		return nil, postErr
	}

	t0 = time.Now()
	analyze := make([]string, 0, len(tables))
	for _, t := range tables {
		analyze = append(analyze, t.QualifiedName())
	}
	if len(opts.Tables) == 0 {
		for _, s := range m.Sequences {
			if _, err := conn.Exec(ctx, `SELECT pg_catalog.setval($1, $2, $3)`,
				QuoteIdent(s.Schema)+"."+QuoteIdent(s.Name), s.LastValue, s.IsCalled); err != nil {
				return rep, fmt.Errorf("set sequence %s.%s: %w", s.Schema, s.Name, err)
			}
		}
		for _, v := range m.MatViews {
			name := QuoteIdent(v.Schema) + "." + QuoteIdent(v.Name)
			if _, err := conn.Exec(ctx, "REFRESH MATERIALIZED VIEW "+name); err != nil {
				return rep, fmt.Errorf("refresh materialized view %s.%s: %w", v.Schema, v.Name, err)
			}
			analyze = append(analyze, name)
		}
		// Partitioned parents keep statistics of their own.
		rows, err := conn.Query(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p' AND `+systemSchemaFilter)
		if err != nil {
			return rep, err
		}
		parents, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return rep, err
		}
		analyze = append(analyze, parents...)
	}
	// Statistics last, after the indexes exist (expression indexes get statistics only
	// then); the planner needs them before the copy serves anything.
	if err := eachOnSessions(ctx, analyze, opts.Jobs, connector(cfg, "analyze"), func(ctx context.Context, conn *pgx.Conn, name string) error {
		if _, err := conn.Exec(ctx, "ANALYZE "+name); err != nil {
			return fmt.Errorf("analyze %s: %w", name, err)
		}
		return nil
	}); err != nil {
		return rep, err
	}
	phase("sequences+analyze", t0)
	rep.Verified = time.Now().UTC()
	return rep, nil
}

// selectTables returns the manifest tables to restore.
func selectTables(m *Manifest, names []string) ([]Table, error) {
	if len(names) == 0 {
		return m.Tables, nil
	}
	var out []Table
	for _, n := range names {
		s, t, ok := strings.Cut(n, ".")
		if !ok {
			s, t = "public", n
		}
		found := false
		for _, tb := range m.Tables {
			if tb.Schema == s && tb.Name == t {
				out = append(out, tb)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: table %s is not in snapshot %s", ErrRefused, n, m.ID)
		}
	}
	return out, nil
}

// checkRails refuses, before any change, restores that would hurt: into the snapshot's
// own source, into a non-empty database, onto an older server.
func checkRails(ctx context.Context, conn *pgx.Conn, m *Manifest, opts RestoreOptions, log *slog.Logger) error {
	var db, sysid string
	var verNum int
	if err := conn.QueryRow(ctx, `SELECT current_database(), current_setting('server_version_num')::int`).Scan(&db, &verNum); err != nil {
		return fmt.Errorf("read target info: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT system_identifier::text FROM pg_control_system()`).Scan(&sysid); err != nil {
		log.Warn("cannot read the target's system identifier", "err", err)
	}
	if sysid != "" && sysid == m.Server.SystemIdentifier && db == m.Database && !opts.ForceSameCluster {
		return fmt.Errorf("%w: the target is the snapshot's own source (cluster %s, database %s); restoring over "+
			"production is almost never meant. Restore into another database, or pass --force-same-cluster", ErrRefused, sysid, db)
	}
	if verNum/10000 < m.Server.VersionNum/10000 {
		if !opts.AllowDowngrade {
			return fmt.Errorf("%w: the target runs PostgreSQL %d but the snapshot comes from %d; the schema may use "+
				"features the older server lacks. Pass --allow-downgrade to try anyway", ErrRefused, verNum/10000, m.Server.VersionNum/10000)
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
				return fmt.Errorf("%w: table %s on the target: %v (with --tables the schema must exist)", ErrRefused, n, err)
			}
			if nonEmpty {
				return fmt.Errorf("%w: table %s on the target has rows; pass --force to truncate it first", ErrRefused, n)
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
		return fmt.Errorf("%w: target database %s is not empty (%d tables, views or sequences); restore into a new "+
			"database (createdb), or pass --force to DROP every schema of %s first", ErrRefused, db, objects, db)
	}
	return nil
}

// dropUserSchemas empties the target (--force): every non-system schema is dropped, and
// public is recreated as PostgreSQL 15 creates it.
func dropUserSchemas(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace n WHERE `+systemSchemaFilter)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "DROP SCHEMA %s CASCADE;\n", QuoteIdent(n))
	}
	b.WriteString("CREATE SCHEMA public AUTHORIZATION pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;\n")
	if err := execScript(ctx, conn, b.String()); err != nil {
		return fmt.Errorf("--force: empty the target: %w", err)
	}
	return nil
}

func readScript(ctx context.Context, st Store, obj Object) (*dumpScript, error) {
	rc, err := OpenObject(ctx, st, obj)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	s, err := parseDump(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", obj.Key, err)
	}
	return s, nil
}

// execScript runs a multi-statement script in one implicit transaction (simple protocol).
func execScript(ctx context.Context, conn *pgx.Conn, sql string) error {
	_, err := conn.PgConn().Exec(ctx, "BEGIN;\n"+sql+"\nCOMMIT;").ReadAll()
	if err != nil {
		conn.PgConn().Exec(context.WithoutCancel(ctx), "ROLLBACK").ReadAll()
	}
	return err
}

// loadData streams every chunk of tables into the target with COPY FROM, in parallel.
func loadData(ctx context.Context, opts RestoreOptions, cfg *pgx.ConnConfig, tables []Table) error {
	type job struct {
		table *Table
		chunk Chunk
	}
	var jobs []job
	for i := range tables {
		for _, c := range tables[i].Chunks {
			jobs = append(jobs, job{&tables[i], c})
		}
	}
	opts.Progress.ChunksTotal.Store(int64(len(jobs)))
	opts.Progress.TablesTotal.Store(int64(len(tables)))
	// Largest first, so one big table does not finish alone at the end.
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].chunk.RawSize > jobs[b].chunk.RawSize })
	open := connector(cfg, "restore worker")
	return eachOnSessions(ctx, jobs, opts.Jobs, open, func(ctx context.Context, conn *pgx.Conn, j job) error {
		rc, err := OpenObject(ctx, opts.Store, j.chunk.Object)
		if err != nil {
			return fmt.Errorf("table %s: %w", j.table, err)
		}
		pr := &progressReader{r: rc, n: &opts.Progress.RawBytes}
		_, err = conn.PgConn().CopyFrom(ctx, pr, j.table.copySQL("FROM STDIN"))
		rc.Close()
		if rerr := pr.failure(); rerr != nil {
			return fmt.Errorf("load table %s: %w", j.table, rerr) // the object is bad, not the server
		}
		if err != nil {
			if binaryMismatch(j.table, err) {
				return fmt.Errorf("load table %s from %s: %w; the table is stored as binary COPY, which PostgreSQL reads only "+
					"into columns of the snapshot's types (schema/pre-data.sql.zst in the snapshot has them): make the target's "+
					"column types match, or restore into an empty database without --tables", j.table, j.chunk.Key, err)
			}
			return fmt.Errorf("load table %s from %s: %w", j.table, j.chunk.Key, err)
		}
		opts.Progress.ChunksDone.Add(1)
		opts.Progress.Rows.Add(j.chunk.Rows)
		opts.Progress.StoredBytes.Add(j.chunk.Size)
		return nil
	})
}

// binaryMismatch tells whether err is PostgreSQL refusing a binary COPY's data for
// the target's column types (invalid_binary_representation, or a field whose length
// does not fit the type: protocol_violation "insufficient data left in message").
func binaryMismatch(t *Table, err error) bool {
	var pe *pgconn.PgError
	return t.Binary() && errors.As(err, &pe) && (pe.Code == "22P03" || pe.Code == "08P01")
}

type progressReader struct {
	r   io.Reader
	n   interface{ Add(int64) int64 }
	mu  sync.Mutex
	err error
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	if err != nil && err != io.EOF {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}
	return n, err
}

func (p *progressReader) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var oe *ObjectError
	if errors.As(p.err, &oe) {
		return p.err
	}
	return nil
}

// proveSplitBytes: tables larger than this on the target are proven in several ctid
// ranges, in parallel; their digests add up (Digest.Merge) to the table's.
const proveSplitBytes = 64 << 20

// proveTables recomputes every table's row count and digest from the target with the
// manifest's column list and session settings, on jobs sessions.
// conn (not used by anyone else meanwhile) reads the table sizes.
func proveTables(ctx context.Context, conn *pgx.Conn, cfg *pgx.ConnConfig, tables []Table, jobs int) ([]TableCheck, error) {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.QualifiedName()
	}
	var blockSize int64
	var sizes []int64
	err := conn.QueryRow(ctx, `SELECT current_setting('block_size')::bigint,
		array(SELECT pg_relation_size(n::regclass) FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i) ORDER BY i)`,
		names).Scan(&blockSize, &sizes)
	if err != nil {
		return nil, fmt.Errorf("proof: table sizes on the target: %w", err)
	}
	type part struct {
		table  int
		sql    string
		weight int64
	}
	var parts []part
	for i := range tables {
		t := &tables[i]
		ranges := splitBlocks(sizes[i], blockSize, proveSplitBytes)
		if ranges == nil {
			parts = append(parts, part{i, t.copySQL("TO STDOUT"), sizes[i]})
			continue
		}
		for _, r := range ranges {
			parts = append(parts, part{i, t.copyRangeSQL(r), sizes[i] / int64(len(ranges))})
		}
	}
	sort.SliceStable(parts, func(a, b int) bool { return parts[a].weight > parts[b].weight })
	var mu sync.Mutex
	rows := make([]int64, len(tables))
	digests := make([]Digest, len(tables))
	err = eachOnSessions(ctx, parts, jobs, connector(cfg, "proof"), func(ctx context.Context, conn *pgx.Conn, p part) error {
		rd := RowDigester{Binary: tables[p.table].Binary()}
		if _, err := conn.PgConn().CopyTo(ctx, &rd, p.sql); err != nil {
			return fmt.Errorf("digest %s: %w", &tables[p.table], err)
		}
		if err := rd.Close(); err != nil {
			return fmt.Errorf("digest %s: %w", &tables[p.table], err)
		}
		mu.Lock()
		rows[p.table] += rd.Rows
		digests[p.table].Merge(rd.Digest)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	checks := make([]TableCheck, len(tables))
	for i, t := range tables {
		d := digests[i].String()
		checks[i] = TableCheck{Table: t.String(), Rows: rows[i], Digest: d, ManifestRows: t.Rows,
			ManifestDigest: t.Digest, OK: rows[i] == t.Rows && d == t.Digest}
	}
	return checks, nil
}

// postData runs the post-data section in three steps: indexes and unique/primary-key
// constraints in parallel sessions (indexes); then (constraints), in pg_dump's order and
// one transaction, everything but foreign keys (index attachments, triggers, rules,
// policies, …: a foreign key to a partitioned table needs its attached indexes), and the
// foreign keys, whose validation scans are the other expensive part, in parallel again.
type postData struct {
	cfg             *pgx.ConnConfig
	script          *dumpScript
	opts            RestoreOptions
	keys, rest, fks []dumpEntry
}

func newPostData(cfg *pgx.ConnConfig, s *dumpScript, opts RestoreOptions) *postData {
	p := &postData{cfg: cfg, script: s, opts: opts}
	for _, e := range s.Entries {
		switch e.Type {
		case "INDEX", "CONSTRAINT":
			p.keys = append(p.keys, e)
		case "FK CONSTRAINT":
			p.fks = append(p.fks, e)
		default:
			p.rest = append(p.rest, e)
		}
	}
	return p
}

func (p *postData) stmt(e dumpEntry) string {
	if p.opts.NoOwner {
		return withoutOwners(e.SQL)
	}
	return e.SQL
}

func (p *postData) open(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		return nil, fmt.Errorf("post-data connect: %w", err)
	}
	// Index builds sort in memory rather than spilling (the server default is 64MB).
	if _, err := conn.PgConn().Exec(ctx, p.script.Preamble+"\nSET maintenance_work_mem = '256MB';").ReadAll(); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("post-data preamble: %w", err)
	}
	return conn, nil
}

func (p *postData) parallel(ctx context.Context, entries []dumpEntry) error {
	return eachOnSessions(ctx, entries, p.opts.Jobs, p.open, func(ctx context.Context, conn *pgx.Conn, e dumpEntry) error {
		if _, err := conn.PgConn().Exec(ctx, p.stmt(e)).ReadAll(); err != nil {
			return fmt.Errorf("post-data %s %s: %w", e.Type, e.Name, err)
		}
		return nil
	})
}

// indexes builds the indexes and primary-key/unique constraints.
func (p *postData) indexes(ctx context.Context) error { return p.parallel(ctx, p.keys) }

// constraints runs the rest of post-data, then the foreign keys.
func (p *postData) constraints(ctx context.Context) error {
	if len(p.rest) > 0 {
		conn, err := p.open(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var b strings.Builder
		for _, e := range p.rest {
			b.WriteString(p.stmt(e))
			b.WriteString("\n")
		}
		if err := execScript(ctx, conn, b.String()); err != nil {
			return fmt.Errorf("post-data (index attachments, triggers, rules): %w", err)
		}
	}
	return p.parallel(ctx, p.fks)
}
