package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/jackc/pgx/v5"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	Store  Store
	ID     string // snapshot id (resolve "latest" etc. with ResolveSnapshot first)
	Target string // DSN of the target database (it must exist)
	Jobs   int    // parallel COPY / index sessions; default 4
	// Force restores into a database that already has tables: every non-system schema of
	// the target is dropped first, in pre-data's transaction (with Tables: the listed
	// tables are truncated and loaded in one transaction).
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
	Tables []string
	// ToastCompression, if set ("lz4", "pglz"), is default_toast_compression of the
	// sessions that load a whole restore's data: values stored out of line (TOAST) are
	// compressed with it, unless the column names its own method. The values are the
	// same; lz4 compresses and reads back several times faster than PostgreSQL's
	// default pglz. A server without it loads with its default (warning).
	ToastCompression string
	// Keys verify the snapshot's signature and decrypt its content (nil: plaintext,
	// unauthenticated snapshots only).
	Keys     *Keys
	Log      *slog.Logger
	Progress *Progress
	// checks: a standby refresh's invariants, run inside a whole restore's step graph
	// where they can be (restore_checks.go); nil for every other restore.
	checks *restoreChecks
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
	ID       string       `json:"id"`
	Database string       `json:"source_database"`
	Tables   []TableCheck `json:"tables"`
	Rows     int64        `json:"rows"`
	// Phases: seconds per phase. A whole restore runs as a step graph whose phases
	// overlap: "data", "indexes", "proof", "constraints", "analyze" (and "invariants", a
	// standby refresh's invariants run in the graph) are each the time
	// from the start of the data step until the phase's last step ended, and "<phase>
	// busy" the session-seconds its steps took; "pre-data" and "sequences+analyze" are
	// durations. A table subset reports "data", "proof" and "sequences+analyze" durations.
	Phases   map[string]float64 `json:"phase_seconds"`
	Verified time.Time          `json:"verified"`
	// LeftOut names what the snapshot holds, or its source had, that a restore never
	// recreates (logical replication subscriptions).
	LeftOut []string `json:"left_out,omitempty"`
	// LargeObjects is the number of large objects restored and proven.
	LargeObjects int64 `json:"large_objects,omitempty"`
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
//
// The steps, each in its own file: the safety rails (restore_rails.go), the schema and
// post-data (restore_schema.go), the data (restore_data.go), the proof
// (restore_proof.go) and the finish (restore_finish.go).
func Restore(ctx context.Context, opts RestoreOptions) (*RestoreReport, error) {
	opts.defaults()
	m, err := ReadTrustedManifest(ctx, opts.Store, opts.ID, opts.Keys, true, nil)
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
		return nil, fmt.Errorf("connect to target %s: %w", pgdsn.Strip(opts.Target), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if opts.Keys == nil || len(opts.Keys.Verifiers) == 0 {
		warnUnauthenticated(ctx, conn, m.ID, opts.Log)
	}

	tables, err := selectTables(m, opts.Tables)
	if err != nil {
		return nil, err
	}
	if err := checkRails(ctx, conn, m, opts, opts.Log); err != nil {
		return nil, err
	}
	r := &restoreRun{opts: opts, m: m, cfg: cfg, conn: conn, tables: tables,
		rep: &RestoreReport{ID: m.ID, Database: m.Database, Phases: map[string]float64{}}}

	post, err := r.schema(ctx)
	if err != nil {
		return nil, err
	}
	if len(opts.Tables) == 0 {
		return r.runGraph(ctx, post)
	}
	t0 := time.Now()
	if err := loadData(ctx, opts, cfg, tables); err != nil {
		return nil, err
	}
	if err := r.largeObjects(ctx); err != nil {
		return nil, err
	}
	r.phase("data", t0)

	// Indexes first: a primary key or unique constraint holds an ACCESS EXCLUSIVE lock on
	// its table while it builds, which would stall a concurrent read of the table.
	var pd *postData
	if post != nil {
		pd = newPostData(cfg, post, opts)
		t0 = time.Now()
		if err := pd.indexes(ctx); err != nil {
			return nil, err
		}
		r.phase("indexes", t0)
	}
	if rep, err := r.prove(ctx, pd); err != nil {
		return rep, err
	}
	if lo := r.m.LargeObjectData; lo != nil && len(opts.Tables) == 0 {
		if err := proveLargeObjects(ctx, conn, lo); err != nil {
			return r.rep, err
		}
		r.rep.LargeObjects = lo.Count
	}
	if err := r.finish(ctx); err != nil {
		return r.rep, err
	}
	r.rep.Verified = time.Now().UTC()
	return r.rep, nil
}

// restoreRun is one Restore in progress: what its steps share.
type restoreRun struct {
	opts   RestoreOptions
	m      *Manifest
	cfg    *pgx.ConnConfig
	conn   *pgx.Conn // the coordinating session
	tables []Table
	rep    *RestoreReport
	// tablesAnalyzed: the step graph analyzed every table; finish analyzes only
	// materialized views and partitioned parents.
	tablesAnalyzed bool
	// planned: the invariants of opts.checks the graph runs.
	planned []plannedCheck
}

// phase records that the named phase, begun at start, is done.
func (r *restoreRun) phase(name string, start time.Time) {
	r.rep.Phases[name] = time.Since(start).Seconds()
	r.opts.Log.Info("restore phase done", "phase", name, "seconds", r.rep.Phases[name])
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
