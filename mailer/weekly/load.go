package weekly

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/pgsource"
)

// memberStatements returns the three statements that read one member ($1) with the
// configured export queries. Unlike pgsource's keyset statement (built for streaming
// every member), the member id is a plain equality pushed into each subquery, so
// PostgreSQL uses the member_id indexes: one job reads ~200 rows, not the tables.
func memberStatements(q pgsource.Queries) (member, folders, links string) {
	def := pgsource.DefaultQueries()
	clean := func(s, d string) string {
		if strings.TrimSpace(s) == "" {
			s = d
		}
		return strings.TrimRight(strings.TrimSpace(s), "; \t\n")
	}
	member = `SELECT m.id::bigint, coalesce(m.email::text, ''), coalesce(m.display_name::text, '')
FROM (` + clean(q.Members, def.Members) + `) AS m WHERE m.id = $1 LIMIT 1`
	folders = `SELECT f.id::bigint, coalesce(f.parent_id::bigint, 0), coalesce(f.name::text, ''),
  coalesce(f.position::integer, 0), f.created_at::timestamptz, f.updated_at::timestamptz
FROM (` + clean(q.Folders, def.Folders) + `) AS f WHERE f.member_id = $1`
	links = `SELECT l.id::bigint, coalesce(l.folder_id::bigint, 0), coalesce(l.url::text, ''), coalesce(l.title::text, ''),
  coalesce(l.notes::text, ''), array_remove(l.tags::text[], NULL), coalesce(l.is_private::boolean, false),
  coalesce(l.read_later::boolean, false), coalesce(l.position::integer, 0), l.created_at::timestamptz,
  l.updated_at::timestamptz, l.last_visited_at::timestamptz
FROM (` + clean(q.Links, def.Links) + `) AS l WHERE l.member_id = $1`
	return member, folders, links
}

// load reads one member's rows in one round trip (three pipelined statements); nil
// when the member query does not select them. The statements run in one implicit
// transaction but each with its own snapshot (READ COMMITTED): a folder deleted
// between them only sends its links to the top level (export.BuildTree repairs it).
func (w *worker) load(ctx context.Context, id int64) (*pgsource.Rows, error) {
	w.once.Do(w.prepare)
	qm, qf, ql := w.qm, w.qf, w.ql
	b := &pgx.Batch{}
	b.Queue(qm, id)
	b.Queue(qf, id)
	b.Queue(ql, id)
	br := w.cfg.Source.SendBatch(ctx, b)
	defer br.Close()
	r := &pgsource.Rows{}
	err := br.QueryRow().Scan(&r.Member.ID, &r.Member.Email, &r.Member.DisplayName)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("weekly: read member %d (export.member_query): %w", id, err)
	}
	var t1, t2, t3 pgtype.Timestamptz
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("weekly: read folders of %d (export.folders_query): %w", id, err)
	}
	for rows.Next() {
		var f export.Folder
		if err := rows.Scan(&f.ID, &f.ParentID, &f.Name, &f.Position, &t1, &t2); err != nil {
			rows.Close()
			return nil, fmt.Errorf("weekly: read folders of %d: %w", id, err)
		}
		f.CreatedAt, f.UpdatedAt = tstz(t1), tstz(t2)
		r.Folders = append(r.Folders, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("weekly: read folders of %d (export.folders_query): %w", id, err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("weekly: read links of %d (export.links_query): %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var l export.Link
		if err := rows.Scan(&l.ID, &l.FolderID, &l.URL, &l.Title, &l.Notes, &l.Tags, &l.Private, &l.ReadLater, &l.Position, &t1, &t2, &t3); err != nil {
			return nil, fmt.Errorf("weekly: read links of %d: %w", id, err)
		}
		l.CreatedAt, l.UpdatedAt, l.VisitedAt = tstz(t1), tstz(t2), tstz(t3)
		r.Links = append(r.Links, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("weekly: read links of %d (export.links_query): %w", id, err)
	}
	return r, nil
}

// tstz turns NULL and ±infinity into the zero time, as pgsource does.
func tstz(t pgtype.Timestamptz) time.Time {
	if !t.Valid || t.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return t.Time
}
