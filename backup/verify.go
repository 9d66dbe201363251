package backup

import (
	"context"
	"crypto/sha256"
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
	// Authenticated: the manifest's signature verified with a configured verify key.
	Authenticated bool `json:"authenticated"`
	// ContentChecked: objects were decrypted and decompressed and row digests compared
	// (false for an encrypted snapshot verified without an identity: sizes and
	// SHA-256 of the stored bytes only, "intact, content not decrypted").
	ContentChecked bool `json:"content_checked"`
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Jobs     int // objects read at once; <= 0: 4
	Log      *slog.Logger
	Progress *Progress
	// Keys verify the manifest's signature (with verify keys) and decrypt the content
	// (with an identity the snapshot is encrypted to); nil: neither.
	Keys *Keys
}

// Verify re-reads every object of snapshot id: stored size and SHA-256, decompression,
// and for data objects the row count and digest of every chunk and table. It returns a
// report naming every broken object; the error wraps ErrVerify when there are problems
// and is another error only when the store cannot be read at all. With verify keys, a
// missing or bad signature is refused first (ErrRefused); an encrypted snapshot is
// decrypted only with a matching identity, else its stored bytes alone are checked.
func Verify(ctx context.Context, st Store, id string, o VerifyOptions) (*VerifyReport, error) {
	jobs, log, progress := o.Jobs, o.Log, o.Progress
	if jobs <= 0 {
		jobs = 4
	}
	if progress == nil {
		progress = &Progress{}
	}
	m, signed, err := readTrusted(ctx, st, id, o.Keys, false, nil)
	if err != nil {
		return nil, err
	}
	v := newVerifier(m, st, log, progress)
	v.keys = o.Keys
	v.rep.Authenticated = signed
	v.rep.ContentChecked = m.Encryption == "" || ProvingIdentity(m, o.Keys) != ""
	todo := []verifyJob{{obj: m.PreData, table: -1}, {obj: m.PostData, table: -1}}
	if m.LargeObjectData != nil {
		todo = append(todo, verifyJob{obj: m.LargeObjectData.Object, table: -1})
	}
	for ti, t := range m.Tables {
		for ci, c := range t.Chunks {
			todo = append(todo, verifyJob{obj: c.Object, table: ti, chunk: ci})
		}
	}
	progress.ChunksTotal.Store(int64(len(todo)))
	progress.TablesTotal.Store(int64(len(m.Tables)))

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, j := range todo {
		g.Go(func() error { return v.object(gctx, j) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	v.tables()
	if len(v.rep.Problems) > 0 {
		return v.rep, fmt.Errorf("snapshot %s: %d broken: %w", id, len(v.rep.Problems), ErrVerify)
	}
	return v.rep, nil
}

// verifyJob is one object to re-read: a schema object (table -1) or one chunk.
type verifyJob struct {
	obj   Object
	table int // -1: schema object
	chunk int
}

// verifier collects the report of one Verify; its methods are safe to call concurrently.
type verifier struct {
	m        *Manifest
	st       Store
	keys     *Keys
	log      *slog.Logger
	progress *Progress

	mu  sync.Mutex
	rep *VerifyReport
	// Per table and chunk: the digest and rows read back, and whether the chunk was intact.
	digests [][]Digest
	rows    [][]int64
	ok      [][]bool
}

func newVerifier(m *Manifest, st Store, log *slog.Logger, progress *Progress) *verifier {
	v := &verifier{m: m, st: st, log: log, progress: progress,
		rep:     &VerifyReport{ID: m.ID, Problems: []Problem{}},
		digests: make([][]Digest, len(m.Tables)), rows: make([][]int64, len(m.Tables)), ok: make([][]bool, len(m.Tables))}
	for i, t := range m.Tables {
		v.digests[i] = make([]Digest, len(t.Chunks))
		v.rows[i] = make([]int64, len(t.Chunks))
		v.ok[i] = make([]bool, len(t.Chunks))
	}
	return v
}

func (v *verifier) problem(p Problem) {
	v.mu.Lock()
	v.rep.Problems = append(v.rep.Problems, p)
	v.mu.Unlock()
	if v.log != nil {
		v.log.Error("verify: broken object", "key", p.Key, "table", p.Table, "problem", p.What)
	}
}

// object re-reads one object and records it as intact or as a problem; it returns an
// error only when ctx ends.
func (v *verifier) object(ctx context.Context, j verifyJob) error {
	tableName := ""
	if j.table >= 0 {
		tableName = v.m.Tables[j.table].String()
	}
	if !v.rep.ContentChecked {
		return v.storedOnly(ctx, j, tableName)
	}
	rc, err := OpenObject(ctx, v.st, j.obj, v.keys)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.problem(Problem{Key: j.obj.Key, Table: tableName, What: "cannot open: " + unwrapObjErr(err)})
		return nil
	}
	defer rc.Close()
	var rd RowDigester
	var w io.Writer = io.Discard
	if j.table >= 0 {
		rd.Binary = v.m.Tables[j.table].Binary()
		w = &rd
	}
	_, err = io.Copy(w, rc)
	v.progress.StoredBytes.Add(j.obj.Size)
	v.progress.ChunksDone.Add(1)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.problem(Problem{Key: j.obj.Key, Table: tableName, What: unwrapObjErr(err)})
		return nil
	}
	if j.table < 0 {
		v.mu.Lock()
		v.rep.Objects++
		v.rep.Bytes += j.obj.Size
		v.mu.Unlock()
		return nil
	}
	if err := rd.Close(); err != nil {
		v.problem(Problem{Key: j.obj.Key, Table: tableName, What: err.Error()})
		return nil
	}
	c := v.m.Tables[j.table].Chunks[j.chunk]
	if rd.Rows != c.Rows {
		v.problem(Problem{Key: j.obj.Key, Table: tableName, What: fmt.Sprintf("%d rows, manifest says %d", rd.Rows, c.Rows)})
		return nil
	}
	if rd.Digest.String() != c.Digest {
		v.problem(Problem{Key: j.obj.Key, Table: tableName, What: fmt.Sprintf("row digest %s, manifest says %s", rd.Digest, c.Digest)})
		return nil
	}
	v.mu.Lock()
	v.digests[j.table][j.chunk], v.rows[j.table][j.chunk], v.ok[j.table][j.chunk] = rd.Digest, rd.Rows, true
	v.rep.Objects++
	v.rep.Bytes += j.obj.Size
	v.rep.Rows += rd.Rows
	v.mu.Unlock()
	v.progress.Rows.Add(rd.Rows)
	return nil
}

// storedOnly checks an encrypted object without an identity: the stored bytes' size
// and SHA-256 against the manifest.
func (v *verifier) storedOnly(ctx context.Context, j verifyJob, tableName string) error {
	rc, err := v.st.Open(ctx, j.obj.Key)
	if err == nil {
		vr := &verifyingReader{r: rc, want: j.obj, h: sha256.New()}
		_, err = io.Copy(io.Discard, vr)
		rc.Close()
	}
	v.progress.StoredBytes.Add(j.obj.Size)
	v.progress.ChunksDone.Add(1)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.problem(Problem{Key: j.obj.Key, Table: tableName, What: unwrapObjErr(err)})
		return nil
	}
	v.mu.Lock()
	v.rep.Objects++
	v.rep.Bytes += j.obj.Size
	v.mu.Unlock()
	return nil
}

// tables checks, after every object is read, that the intact chunks of each table add
// up to the table's recorded digest and rows.
func (v *verifier) tables() {
	if !v.rep.ContentChecked {
		return
	}
	for ti, t := range v.m.Tables {
		all := true
		var d Digest
		var n int64
		for ci := range t.Chunks {
			all = all && v.ok[ti][ci]
			d.Merge(v.digests[ti][ci])
			n += v.rows[ti][ci]
		}
		if all && (d.String() != t.Digest || n != t.Rows) {
			v.problem(Problem{Key: ManifestKey(v.m.ID), Table: t.String(),
				What: fmt.Sprintf("chunks add up to %d rows / digest %s, table says %d / %s", n, d, t.Rows, t.Digest)})
		}
	}
}

func unwrapObjErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "object ") {
		return msg[i+2:]
	}
	return msg
}
