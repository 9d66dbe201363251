package backup

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// runBackup copies the schema (two pg_dump runs) and every task's rows into the store,
// opts.Jobs sessions at a time, all inside the exported snapshot, and fills in m's
// objects, row counts and digests.
func runBackup(ctx context.Context, opts Options, cfg *pgx.ConnConfig, snapshot string, m *Manifest, tasks []task, prefix string, dumpExclude []QualName) error {
	var exSchemas []QualName
	for _, s := range opts.ExcludeSchemas {
		exSchemas = append(exSchemas, QualName{Name: s})
	}
	g, ctx := errgroup.WithContext(ctx)
	encs, err := newEncoders(opts.Compression, opts.CompressionLevel)
	if err != nil {
		return err
	}
	rcpts := opts.Keys.recipients()
	password := cfg.Password
	dumpDSN := pgdsn.Strip(opts.Source)
	for _, section := range []string{"pre-data", "post-data"} {
		g.Go(func() error {
			obj, err := putCompressed(ctx, opts.Store, encs, rcpts, prefix+"schema/"+section+".sql"+encs.ext(), 1<<20, func(w io.Writer) error {
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
	open := snapshotSession(cfg, snapshot)
	g.Go(func() error {
		return eachOnSessions(ctx, tasks, opts.Jobs, open, func(ctx context.Context, conn *pgx.Conn, t task) error {
			mu.Lock()
			tbl := &m.Tables[t.table]
			key := tbl.Chunks[t.chunk].Key
			name := tbl.String()
			rd := RowDigester{Binary: tbl.Binary()}
			mu.Unlock()
			obj, err := putCompressed(ctx, opts.Store, encs, rcpts, key, t.sizeHint, func(w io.Writer) error {
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
	if lo := m.LargeObjectData; lo != nil {
		m.Totals.StoredBytes += lo.Size
		m.Totals.RawBytes += lo.RawSize
		m.Totals.Objects++
	}
}

// snapshotSession opens worker sessions that import the coordinator's exported snapshot.
func snapshotSession(cfg *pgx.ConnConfig, snapshot string) func(context.Context) (*pgx.Conn, error) {
	return func(ctx context.Context) (*pgx.Conn, error) {
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
}
