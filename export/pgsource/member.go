package pgsource

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/linkagogo/linkbackup/export"
)

// The exported fields as SQL over the configured queries (aliased m, f, l): one list,
// used by the batch statement (Statement) and by the one-member read (MemberReader).
// Missing values become ” / 0 / false; timestamps stay NULL (tstz makes them zero).
const (
	memberCols = `m.id::bigint, coalesce(m.email::text, ''), coalesce(m.display_name::text, '')`

	folderID       = `f.id::bigint`
	folderParent   = `coalesce(f.parent_id::bigint, 0)`
	folderName     = `coalesce(f.name::text, '')`
	folderPosition = `coalesce(f.position::integer, 0)`
	folderTimes    = `f.created_at::timestamptz, f.updated_at::timestamptz`

	linkID      = `l.id::bigint`
	linkFolder  = `coalesce(l.folder_id::bigint, 0)`
	linkTexts   = `coalesce(l.url::text, ''), coalesce(l.title::text, ''), coalesce(l.notes::text, '')`
	linkTags    = `array_remove(l.tags::text[], NULL)`
	linkFlags   = `coalesce(l.is_private::boolean, false), coalesce(l.read_later::boolean, false)`
	linkPosTime = `coalesce(l.position::integer, 0), l.created_at::timestamptz, l.updated_at::timestamptz, l.last_visited_at::timestamptz`
)

// Batcher sends a batch of statements in one round trip (*pgx.Conn, *pgxpool.Pool, pgx.Tx).
type Batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// MemberReader reads one member with its folders and links by id. Unlike the keyset
// statement of Read (built for streaming every member), the member id is a plain
// equality pushed into each subquery, so PostgreSQL uses the member_id indexes: one
// read is ~200 rows, not the tables. Safe for concurrent use.
type MemberReader struct {
	member, folders, links string
}

// NewMemberReader builds the three statements from q (zero fields take the defaults).
func NewMemberReader(q Queries) *MemberReader {
	def := DefaultQueries()
	clean := func(s, d string) string {
		if strings.TrimSpace(s) == "" {
			s = d
		}
		return trimQuery(s)
	}
	return &MemberReader{
		member: `SELECT ` + memberCols + `
FROM (` + clean(q.Members, def.Members) + `) AS m WHERE m.id = $1 LIMIT 1`,
		folders: `SELECT ` + strings.Join([]string{folderID, folderParent, folderName, folderPosition, folderTimes}, ", ") + `
FROM (` + clean(q.Folders, def.Folders) + `) AS f WHERE f.member_id = $1`,
		links: `SELECT ` + strings.Join([]string{linkID, linkFolder, linkTexts, linkTags, linkFlags, linkPosTime}, ", ") + `
FROM (` + clean(q.Links, def.Links) + `) AS l WHERE l.member_id = $1`,
	}
}

// ReadMember reads member id in one round trip (three pipelined statements); nil when
// the member query does not select it. The statements run in one implicit transaction
// but each with its own snapshot (READ COMMITTED): a folder deleted between them only
// sends its links to the top level (export.BuildTree repairs it). Errors name the
// configuration key of the query that failed.
func (mr *MemberReader) ReadMember(ctx context.Context, db Batcher, id int64) (*Rows, error) {
	b := &pgx.Batch{}
	b.Queue(mr.member, id)
	b.Queue(mr.folders, id)
	b.Queue(mr.links, id)
	br := db.SendBatch(ctx, b)
	defer br.Close()
	r := &Rows{}
	err := br.QueryRow().Scan(&r.Member.ID, &r.Member.Email, &r.Member.DisplayName)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read member %d (export.member_query): %w", id, err)
	}
	var t1, t2, t3 pgtype.Timestamptz
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("read folders of %d (export.folders_query): %w", id, err)
	}
	for rows.Next() {
		var f export.Folder
		if err := rows.Scan(&f.ID, &f.ParentID, &f.Name, &f.Position, &t1, &t2); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read folders of %d: %w", id, err)
		}
		f.CreatedAt, f.UpdatedAt = tstz(t1), tstz(t2)
		r.Folders = append(r.Folders, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read folders of %d (export.folders_query): %w", id, err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("read links of %d (export.links_query): %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var l export.Link
		if err := rows.Scan(&l.ID, &l.FolderID, &l.URL, &l.Title, &l.Notes, &l.Tags, &l.Private, &l.ReadLater, &l.Position, &t1, &t2, &t3); err != nil {
			return nil, fmt.Errorf("read links of %d: %w", id, err)
		}
		l.CreatedAt, l.UpdatedAt, l.VisitedAt = tstz(t1), tstz(t2), tstz(t3)
		r.Links = append(r.Links, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read links of %d (export.links_query): %w", id, err)
	}
	return r, nil
}
