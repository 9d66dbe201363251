package backup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Problem is one thing wrong with a snapshot.
type Problem struct {
	Key   string `json:"key"`
	Table string `json:"table,omitempty"`
	What  string `json:"problem"`
}

func (p Problem) String() string {
	if p.Table != "" {
		return fmt.Sprintf("%s (table %s): %s", p.Key, p.Table, p.What)
	}
	return p.Key + ": " + p.What
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	ID       string    `json:"id"`
	Objects  int       `json:"objects"` // objects found intact
	Bytes    int64     `json:"stored_bytes"`
	Rows     int64     `json:"rows"`
	Problems []Problem `json:"problems"`
}

// Verify re-reads every object of snapshot id: stored size and SHA-256, decompression,
// and for data objects the row count and digest of every chunk and table. It returns a
// report naming every broken object; the error wraps ErrVerify when there are problems
// and is another error only when the store cannot be read at all.
func Verify(ctx context.Context, st Store, id string, jobs int, log *slog.Logger, progress *Progress) (*VerifyReport, error) {
	if jobs <= 0 {
		jobs = 4
	}
	if progress == nil {
		progress = &Progress{}
	}
	m, err := ReadManifest(ctx, st, id)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{ID: id, Problems: []Problem{}}
	var mu sync.Mutex
	problem := func(p Problem) {
		mu.Lock()
		rep.Problems = append(rep.Problems, p)
		mu.Unlock()
		if log != nil {
			log.Error("verify: broken object", "key", p.Key, "table", p.Table, "problem", p.What)
		}
	}
	type job struct {
		obj   Object
		table int // -1: schema object
		chunk int
	}
	var todo []job
	todo = append(todo, job{obj: m.PreData, table: -1}, job{obj: m.PostData, table: -1})
	for ti, t := range m.Tables {
		for ci, c := range t.Chunks {
			todo = append(todo, job{obj: c.Object, table: ti, chunk: ci})
		}
	}
	progress.ChunksTotal.Store(int64(len(todo)))
	progress.TablesTotal.Store(int64(len(m.Tables)))
	digests := make([][]Digest, len(m.Tables))
	rows := make([][]int64, len(m.Tables))
	ok := make([][]bool, len(m.Tables))
	for i, t := range m.Tables {
		digests[i] = make([]Digest, len(t.Chunks))
		rows[i] = make([]int64, len(t.Chunks))
		ok[i] = make([]bool, len(t.Chunks))
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, j := range todo {
		g.Go(func() error {
			tableName := ""
			if j.table >= 0 {
				tableName = m.Tables[j.table].String()
			}
			rc, err := OpenObject(gctx, st, j.obj)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				problem(Problem{Key: j.obj.Key, Table: tableName, What: "cannot open: " + unwrapObjErr(err)})
				return nil
			}
			defer rc.Close()
			var rd RowDigester
			var w io.Writer = io.Discard
			if j.table >= 0 {
				rd.Binary = m.Tables[j.table].Binary()
				w = &rd
			}
			_, err = io.Copy(w, rc)
			progress.StoredBytes.Add(j.obj.Size)
			progress.ChunksDone.Add(1)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				problem(Problem{Key: j.obj.Key, Table: tableName, What: unwrapObjErr(err)})
				return nil
			}
			if j.table < 0 {
				mu.Lock()
				rep.Objects++
				rep.Bytes += j.obj.Size
				mu.Unlock()
				return nil
			}
			if err := rd.Close(); err != nil {
				problem(Problem{Key: j.obj.Key, Table: tableName, What: err.Error()})
				return nil
			}
			c := m.Tables[j.table].Chunks[j.chunk]
			if rd.Rows != c.Rows {
				problem(Problem{Key: j.obj.Key, Table: tableName, What: fmt.Sprintf("%d rows, manifest says %d", rd.Rows, c.Rows)})
				return nil
			}
			if rd.Digest.String() != c.Digest {
				problem(Problem{Key: j.obj.Key, Table: tableName, What: fmt.Sprintf("row digest %s, manifest says %s", rd.Digest, c.Digest)})
				return nil
			}
			mu.Lock()
			digests[j.table][j.chunk], rows[j.table][j.chunk], ok[j.table][j.chunk] = rd.Digest, rd.Rows, true
			rep.Objects++
			rep.Bytes += j.obj.Size
			rep.Rows += rd.Rows
			mu.Unlock()
			progress.Rows.Add(rd.Rows)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Table level: the chunks must add up to the table's recorded digest and rows.
	for ti, t := range m.Tables {
		all := true
		var d Digest
		var n int64
		for ci := range t.Chunks {
			all = all && ok[ti][ci]
			d.Merge(digests[ti][ci])
			n += rows[ti][ci]
		}
		if all && (d.String() != t.Digest || n != t.Rows) {
			problem(Problem{Key: ManifestKey(id), Table: t.String(),
				What: fmt.Sprintf("chunks add up to %d rows / digest %s, table says %d / %s", n, d, t.Rows, t.Digest)})
		}
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("snapshot %s: %d broken: %w", id, len(rep.Problems), ErrVerify)
	}
	return rep, nil
}

func unwrapObjErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "object ") {
		return msg[i+2:]
	}
	return msg
}
