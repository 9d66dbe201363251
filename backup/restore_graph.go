package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Step ranks: among the ready steps that conflict with no running one, the lowest rank
// goes first, and within a rank the largest table. Loads come first (everything waits
// for them), then what unblocks others (keys, the ANALYZE of a table an invariant reads,
// then foreign keys, the serial tail of a restore), then the other indexes, the
// invariants, the proof and ANALYZE, which nothing waits for. An invariant's ANALYZE
// goes before the foreign keys because it conflicts with their validation on the same
// table: after them it would run last, and the invariants waiting for it after it
// (measured, 2 cores, 600k small links: from the end of the data to a copy ready to swap
// 2.15 s median with this order, 2.51 s with ANALYZE last, 2.46 s with the invariants
// after the restore).
const (
	rankLoad = iota
	rankKey
	rankCheckAnalyze
	rankForeignKey
	rankIndex
	rankCheck
	rankProof
	rankAnalyze
)

// Phase names of the steps (RestoreReport.Phases).
const (
	phaseData        = "data"
	phaseIndexes     = "indexes"
	phaseProof       = "proof"
	phaseConstraints = "constraints"
	phaseAnalyze     = "analyze"
	phaseChecks      = "invariants" // a standby refresh's invariants (restore_checks.go)
)

// proofSums collects the proof's row counts and digests per table, from any session.
type proofSums struct {
	mu      sync.Mutex
	rows    []int64
	digests []Digest
}

func (p *proofSums) add(i int, rows int64, d Digest) {
	p.mu.Lock()
	p.rows[i] += rows
	p.digests[i].Merge(d)
	p.mu.Unlock()
}

// checks compares the sums with the manifest.
func (p *proofSums) checks(tables []Table) []TableCheck {
	checks := make([]TableCheck, len(tables))
	for i, t := range tables {
		d := p.digests[i].String()
		checks[i] = TableCheck{Table: t.String(), Rows: p.rows[i], Digest: d, ManifestRows: t.Rows,
			ManifestDigest: t.Digest, OK: p.rows[i] == t.Rows && d == t.Digest}
	}
	return checks
}

// digestRange reads one COPY TO of table i and adds its rows to the sums.
func (p *proofSums) digestRange(ctx context.Context, conn *pgx.Conn, t *Table, i int, sql string) error {
	rd := RowDigester{Binary: t.Binary()}
	if _, err := conn.PgConn().CopyTo(ctx, &rd, sql); err != nil {
		return fmt.Errorf("digest %s: %w", t, err)
	}
	if err := rd.Close(); err != nil {
		return fmt.Errorf("digest %s: %w", t, err)
	}
	p.add(i, rd.Rows, rd.Digest)
	return nil
}

// graphTable is what the graph knows of one restored table.
type graphTable struct {
	i       int
	t       *Table
	loads   []*step // every chunk's load (or the one frozen load)
	keys    []*step // its indexes and keys: ANALYZE and foreign keys come after them
	analyze *step
	size    int64 // raw bytes, for priorities
}

// steps builds the step graph of a whole restore: the data of every table, the
// post-data section and the proof of every table.
func (r *restoreRun) steps(pd *postData, sums *proofSums) []*step {
	opts := r.opts
	var all []*step
	add := func(s *step) *step { all = append(all, s); return s }
	byKey := map[string]*graphTable{}
	tables := make([]*graphTable, len(r.tables))
	var allLoads []*step
	chunks := 0
	for i := range r.tables {
		t := &r.tables[i]
		gt := &graphTable{i: i, t: t}
		for _, c := range t.Chunks {
			gt.size += c.RawSize
		}
		tables[i], byKey[tableKey(t.Schema, t.Name)] = gt, gt
		key := tableKey(t.Schema, t.Name)
		// A table of one chunk (or every table, with one session) loads in one
		// transaction with its TRUNCATE and COPY FREEZE; a larger one loads its chunks on
		// every session at once: on two cores, measured, parallel chunks of the large
		// table beat one frozen load (less CPU, but one session) by 10-15 % of the refresh.
		chunks += len(t.Chunks)
		if len(t.Chunks) == 1 || opts.Jobs == 1 && len(t.Chunks) > 0 {
			gt.loads = append(gt.loads, add(&step{phase: phaseData, what: "load " + t.String(), rank: rankLoad, size: gt.size,
				locks: []tableLock{{key, lockAccessExclusive}},
				run: func(ctx context.Context, conn *pgx.Conn) ([]*step, error) {
					return nil, loadTableFrozen(ctx, conn, opts, t)
				}}))
		} else {
			for _, c := range t.Chunks {
				gt.loads = append(gt.loads, add(&step{phase: phaseData, what: "load " + c.Key, rank: rankLoad, size: c.RawSize,
					locks: []tableLock{{key, lockRowExclusive}},
					run: func(ctx context.Context, conn *pgx.Conn) ([]*step, error) {
						return nil, loadChunk(ctx, conn, opts, t, c, t.copySQL("FROM STDIN"))
					}}))
			}
		}
		allLoads = append(allLoads, gt.loads...)
	}
	opts.Progress.ChunksTotal.Store(int64(chunks))
	opts.Progress.TablesTotal.Store(int64(len(r.tables)))

	// Post-data: indexes and keys per table, the rest in one transaction after them,
	// then the foreign keys.
	var allKeys, unknownKeys []*step
	postStep := func(phase, what string, rank int, size int64, sql string) *step {
		return &step{phase: phase, what: what, flavour: flavourPost, post: true, rank: rank, size: size,
			run: func(ctx context.Context, conn *pgx.Conn) ([]*step, error) {
				if _, err := conn.PgConn().Exec(ctx, sql).ReadAll(); err != nil {
					return nil, fmt.Errorf("post-data %s: %w", what, err)
				}
				return nil, nil
			}}
	}
	for _, e := range pd.keys {
		what := e.Type + " " + e.Name
		sql := pd.stmt(e)
		gt := byKey[entryTable(sql)]
		if gt == nil {
			// A table the snapshot holds no data of (a partitioned parent) or a statement
			// this parser does not know: alone, after all data.
			s := add(postStep(phaseIndexes, what, rankKey, 0, sql))
			s.exclusive = true
			s.after(allLoads...)
			allKeys, unknownKeys = append(allKeys, s), append(unknownKeys, s)
			continue
		}
		key := tableKey(gt.t.Schema, gt.t.Name)
		if e.Type == "INDEX" {
			s := add(postStep(phaseIndexes, what, rankIndex, gt.size, sql))
			s.locks = []tableLock{{key, lockShare}}
			s.after(gt.loads...)
			gt.keys = append(gt.keys, s)
			continue
		}
		if build, attach, ok := keyUsingIndex(sql); ok {
			// The key's unique index builds under a SHARE lock, beside the table's other
			// indexes and its proof; only adopting it as the constraint takes the ACCESS
			// EXCLUSIVE lock, for a moment.
			b := add(postStep(phaseIndexes, what+" (index)", rankKey, gt.size, build))
			b.locks = []tableLock{{key, lockShare}}
			b.after(gt.loads...)
			a := add(postStep(phaseIndexes, what, rankKey, gt.size, attach))
			a.locks = []tableLock{{key, lockAccessExclusive}}
			a.after(b)
			gt.keys = append(gt.keys, b, a)
			continue
		}
		s := add(postStep(phaseIndexes, what, rankKey, gt.size, sql))
		s.locks = []tableLock{{key, lockAccessExclusive}}
		s.after(gt.loads...)
		gt.keys = append(gt.keys, s)
	}
	for _, gt := range tables {
		allKeys = append(allKeys, gt.keys...)
	}
	var rest *step
	if len(pd.rest) > 0 {
		var b strings.Builder
		for _, e := range pd.rest {
			b.WriteString(pd.stmt(e))
			b.WriteString("\n")
		}
		script := b.String()
		rest = add(&step{phase: phaseConstraints, what: "post-data (index attachments, triggers, rules)", flavour: flavourPost,
			post: true, exclusive: true, rank: rankKey,
			run: func(ctx context.Context, conn *pgx.Conn) ([]*step, error) {
				if err := execScript(ctx, conn, script); err != nil {
					return nil, fmt.Errorf("post-data (index attachments, triggers, rules): %w", err)
				}
				return nil, nil
			}})
		rest.after(allLoads...)
		rest.after(allKeys...)
	}
	for _, e := range pd.fks {
		sql := pd.stmt(e)
		s := add(postStep(phaseConstraints, e.Type+" "+e.Name, rankForeignKey, 0, sql))
		s.after(rest)
		from, to := byKey[entryTable(sql)], byKey[referencedTable(sql)]
		if from == nil || to == nil {
			s.exclusive = true
			s.after(allLoads...)
			s.after(allKeys...)
			continue
		}
		s.size = from.size
		s.locks = []tableLock{{tableKey(from.t.Schema, from.t.Name), lockShareRowExclusive}, {tableKey(to.t.Schema, to.t.Name), lockShareRowExclusive}}
		s.after(from.loads...)
		s.after(to.loads...)
		s.after(to.keys...)
		if from != to {
			s.after(from.keys...) // building them would wait for the validation's lock
		}
	}

	// The proof of each table once it is loaded; ANALYZE once its indexes exist
	// (expression indexes get statistics only then).
	for _, gt := range tables {
		gt := gt
		key := tableKey(gt.t.Schema, gt.t.Name)
		p := add(&step{phase: phaseProof, what: "proof " + gt.t.String(), rank: rankProof, size: gt.size,
			locks: []tableLock{{key, lockAccessShare}},
			run: func(ctx context.Context, conn *pgx.Conn) ([]*step, error) {
				return sums.plan(ctx, conn, gt.t, gt.i)
			}})
		p.after(gt.loads...)
		a := add(&step{phase: phaseAnalyze, what: "analyze " + gt.t.String(), rank: rankAnalyze, size: gt.size,
			locks: []tableLock{{key, lockShareUpdateExclusive}},
			run: func(ctx context.Context, conn *pgx.Conn) ([]*step, error) {
				if _, err := conn.Exec(ctx, "ANALYZE "+gt.t.QualifiedName()); err != nil {
					return nil, fmt.Errorf("analyze %s: %w", gt.t, err)
				}
				return nil, nil
			}})
		a.after(gt.loads...)
		a.after(gt.keys...)
		gt.analyze = a
	}
	for _, s := range r.checkSteps(byKey, allLoads, unknownKeys, rest) {
		add(s)
	}
	return all
}

// plan starts the proof of table i: a table larger than proveSplitBytes on the target
// is read in several ctid ranges, returned as steps (their digests add up); a smaller
// one is read here.
func (p *proofSums) plan(ctx context.Context, conn *pgx.Conn, t *Table, i int) ([]*step, error) {
	var size, blockSize int64
	if err := conn.QueryRow(ctx, `SELECT pg_relation_size($1::regclass), current_setting('block_size')::bigint`,
		t.QualifiedName()).Scan(&size, &blockSize); err != nil {
		return nil, fmt.Errorf("proof: size of %s on the target: %w", t, err)
	}
	ranges := splitBlocks(size, blockSize, proveSplitBytes)
	if ranges == nil {
		return nil, p.digestRange(ctx, conn, t, i, t.copySQL("TO STDOUT"))
	}
	key := tableKey(t.Schema, t.Name)
	steps := make([]*step, len(ranges))
	for k, r := range ranges {
		sql := t.copyRangeSQL(r)
		steps[k] = &step{phase: phaseProof, what: "proof " + t.String() + " " + r.String(), rank: rankProof,
			size: size / int64(len(ranges)), locks: []tableLock{{key, lockAccessShare}},
			run: func(ctx context.Context, conn *pgx.Conn) ([]*step, error) {
				return nil, p.digestRange(ctx, conn, t, i, sql)
			}}
	}
	return steps, nil
}

// loadTableFrozen loads every chunk of t in one transaction that first truncates it,
// with COPY FREEZE: the rows are written frozen (no hint bits to set, so the proof's
// and the index builds' scans dirty no page), and under wal_level = minimal PostgreSQL
// writes no WAL for them. t was created empty by this restore's pre-data.
func loadTableFrozen(ctx context.Context, conn *pgx.Conn, opts RestoreOptions, t *Table) error {
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("load table %s: %w", t, err)
	}
	done := false
	defer func() {
		if !done {
			conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	freeze := true
	if _, err := conn.PgConn().Exec(ctx, "SAVEPOINT truncate; TRUNCATE ONLY "+t.QualifiedName()).ReadAll(); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			return fmt.Errorf("load table %s: truncate before COPY FREEZE: %w", t, err)
		}
		// No TRUNCATE privilege: a plain COPY in the transaction.
		if _, err := conn.Exec(ctx, "ROLLBACK TO SAVEPOINT truncate"); err != nil {
			return fmt.Errorf("load table %s: %w", t, err)
		}
		freeze = false
	}
	sql := t.copySQL("FROM STDIN")
	if freeze {
		with := "FREEZE"
		if t.Binary() {
			with = "FORMAT binary, FREEZE"
		}
		cols := ""
		if len(t.Columns) > 0 {
			cols = " (" + ColumnList(t.Columns) + ")"
		}
		sql = "COPY " + t.QualifiedName() + cols + " FROM STDIN WITH (" + with + ")"
	}
	for _, c := range t.Chunks {
		if err := loadChunk(ctx, conn, opts, t, c, sql); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("load table %s: commit: %w", t, err)
	}
	done = true
	return nil
}

// runGraph restores the data, the post-data section and the proof of a whole snapshot
// as one step graph (restore_sched.go), the large objects meanwhile on the coordinating
// session, then finishes (sequences, materialized views).
func (r *restoreRun) runGraph(ctx context.Context, post *dumpScript) (*RestoreReport, error) {
	pd := newPostData(r.cfg, post, r.opts)
	sums := &proofSums{rows: make([]int64, len(r.tables)), digests: make([]Digest, len(r.tables))}
	if err := r.planChecks(ctx); err != nil {
		return nil, err
	}
	sc := &scheduler{log: r.opts.Log}
	plain := r.cfg
	if v := r.opts.ToastCompression; v != "" {
		// Only where the server knows the method (lz4 needs a server built with it).
		if _, err := r.conn.Exec(ctx, "SELECT pg_catalog.set_config('default_toast_compression', $1, false)", v); err != nil {
			r.opts.Log.Warn("the target server does not accept this TOAST compression; loading with its default", "toast_compression", v, "err", err)
		} else {
			plain = r.cfg.Copy()
			plain.RuntimeParams["default_toast_compression"] = v
		}
	}
	sc.open[flavourPlain] = connector(plain, "restore worker")
	sc.open[flavourPost] = pd.open
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lo := r.m.LargeObjectData
	var loErr error
	var wg sync.WaitGroup
	if lo != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if loErr = loadLargeObjects(ctx, r.conn, r.opts, lo); loErr == nil {
				loErr = proveLargeObjects(ctx, r.conn, lo)
			}
		}()
	}
	postErr, err := sc.runSteps(ctx, r.opts.Jobs, r.steps(pd, sums))
	if err != nil {
		cancel()
	}
	wg.Wait()
	sc.clock.phases(r.rep.Phases)
	for _, n := range []string{phaseData, phaseIndexes, phaseProof, phaseConstraints, phaseAnalyze, phaseChecks} {
		if v, ok := r.rep.Phases[n]; ok {
			r.opts.Log.Info("restore phase done", "phase", n, "seconds", v, "busy_seconds", r.rep.Phases[n+" busy"])
		}
	}
	if err != nil {
		return nil, err
	}
	r.rep.Tables = sums.checks(r.tables)
	var bad []string
	for _, c := range r.rep.Tables {
		r.rep.Rows += c.Rows
		if !c.OK {
			bad = append(bad, fmt.Sprintf("%s (restored %d rows digest %s, snapshot %d rows digest %s)",
				c.Table, c.Rows, c.Digest, c.ManifestRows, c.ManifestDigest))
		}
	}
	if len(bad) > 0 {
		return r.rep, fmt.Errorf("snapshot %s: %w: %s", r.m.ID, ErrMismatch, strings.Join(bad, "; "))
	}
	if loErr != nil {
		if errors.Is(loErr, ErrMismatch) {
			return r.rep, loErr
		}
		return nil, loErr
	}
	if postErr != nil {
		return nil, postErr
	}
	if lo != nil {
		r.rep.LargeObjects = lo.Count
	}
	r.tablesAnalyzed = true
	if err := r.finish(ctx); err != nil {
		return r.rep, err
	}
	r.rep.Verified = time.Now().UTC()
	return r.rep, nil
}
