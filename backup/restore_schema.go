package backup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxSchemaScript caps a schema section held in memory (decompressed); OpenObject stops
// reading at the manifest's size, so a lying manifest cannot get past it either.
const maxSchemaScript = 256 << 20

func readScript(ctx context.Context, st Store, obj Object, k *Keys) (*dumpScript, error) {
	if obj.RawSize > maxSchemaScript {
		return nil, &ObjectError{Key: obj.Key, Err: fmt.Errorf("schema script of %d bytes is over the %d MiB limit", obj.RawSize, maxSchemaScript>>20)}
	}
	rc, err := OpenObject(ctx, st, obj, k)
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

// schema prepares the target: for a whole restore, it empties the target when forced,
// runs pre-data and returns the parsed post-data; for a table subset (no schema is
// created) it does nothing and returns nil.
func (r *restoreRun) schema(ctx context.Context) (*dumpScript, error) {
	opts, conn := r.opts, r.conn
	if len(opts.Tables) > 0 {
		return nil, nil // forced: truncated in the data step's transaction (reloadTables)
	}
	t0 := time.Now()
	// Both schema objects are read and checked (size, SHA-256, decompression) before
	// anything changes, so a bad or unreachable object leaves the target as it was.
	pre, err := readScript(ctx, opts.Store, r.m.PreData, opts.Keys)
	if err != nil {
		return nil, err
	}
	post, err := readScript(ctx, opts.Store, r.m.PostData, opts.Keys)
	if err != nil {
		return nil, err
	}
	r.leaveOutSubscriptions(pre, post)
	script, what := pre.script(opts.NoOwner), "restore schema (pre-data)"
	if opts.Force {
		// Emptying the target and pre-data are one transaction: a failure undoes both.
		drop, err := dropSchemasSQL(ctx, conn)
		if err != nil {
			return nil, err
		}
		script, what = drop+script, "empty the target (drop its schemas) and restore schema (pre-data); the target is unchanged"
	}
	if err := execScript(ctx, conn, script); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	r.phase("pre-data", t0)
	return post, nil
}
