package backup

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

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

// prove reads every table back and compares it with the manifest (large tables in
// several ctid ranges, so that every session has work) while the rest of post-data (pd,
// nil for a table subset) runs: foreign-key validation, serialized per table by its
// lock, leaves cores idle that the proof uses; reading does not conflict with it. A
// mismatch is reported before any constraint error (bad rows can also break a foreign
// key; the proof names the table). A mismatch returns the report that names the
// tables with the error; any other failure returns no report.
func (r *restoreRun) prove(ctx context.Context, pd *postData) (*RestoreReport, error) {
	t0 := time.Now()
	proofCtx, stopProof := context.WithCancel(ctx)
	defer stopProof()
	var checks []TableCheck
	var proofErr, postErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if checks, proofErr = proveTables(proofCtx, r.conn, r.cfg, r.tables, r.opts.Jobs); proofErr != nil {
			stopProof()
		}
	}()
	if pd != nil {
		postErr = pd.constraints(proofCtx)
	}
	wg.Wait()
	if pd != nil {
		r.phase("proof+constraints", t0)
	} else {
		r.phase("proof", t0)
	}
	if proofErr != nil {
		return nil, proofErr
	}
	r.rep.Tables = checks
	var bad []string
	for _, c := range checks {
		r.rep.Rows += c.Rows
		if !c.OK {
			bad = append(bad, fmt.Sprintf("%s (restored %d rows digest %s, snapshot %d rows digest %s)",
				c.Table, c.Rows, c.Digest, c.ManifestRows, c.ManifestDigest))
		}
	}
	if len(bad) > 0 {
		return r.rep, fmt.Errorf("snapshot %s: %w: %s", r.m.ID, ErrMismatch, strings.Join(bad, "; "))
	}
	if postErr != nil {
		return nil, postErr
	}
	return r.rep, nil
}
