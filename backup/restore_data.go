package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// loadData streams every chunk of tables into the target with COPY FROM, in parallel
// (a forced table subset: in one transaction, reloadTables).
func loadData(ctx context.Context, opts RestoreOptions, cfg *pgx.ConnConfig, tables []Table) error {
	if opts.Force && len(opts.Tables) > 0 {
		return reloadTables(ctx, opts, cfg, tables)
	}
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
		return loadChunk(ctx, conn, opts, j.table, j.chunk, j.table.copySQL("FROM STDIN"))
	})
}

// loadChunk streams one chunk of table t into the target on conn with sql (COPY … FROM
// STDIN).
func loadChunk(ctx context.Context, conn *pgx.Conn, opts RestoreOptions, t *Table, c Chunk, sql string) error {
	rc, err := OpenObject(ctx, opts.Store, c.Object, opts.Keys)
	if err != nil {
		return fmt.Errorf("table %s: %w", t, err)
	}
	pr := &progressReader{r: rc, n: &opts.Progress.RawBytes}
	_, err = conn.PgConn().CopyFrom(ctx, pr, sql)
	rc.Close()
	if rerr := pr.failure(); rerr != nil {
		return fmt.Errorf("load table %s: %w", t, rerr) // the object is bad, not the server
	}
	if err != nil {
		if binaryMismatch(t, err) {
			return fixable(FixWholeRestore, "", "load table %s from %s: %w; the table is stored as binary COPY, which PostgreSQL reads only "+
				"into columns of the snapshot's types (schema/pre-data.sql.zst in the snapshot has them): make the target's "+
				"column types match, or restore into an empty database", t, c.Key, err)
		}
		return fmt.Errorf("load table %s from %s: %w", t, c.Key, err)
	}
	opts.Progress.ChunksDone.Add(1)
	opts.Progress.Rows.Add(c.Rows)
	opts.Progress.StoredBytes.Add(c.Size)
	return nil
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
