// Package pgsource reads the members to export, with their folders and links, from
// PostgreSQL: one ordered, streaming statement per keyset batch of members (never one
// query per member), inside one REPEATABLE READ READ ONLY transaction so that the whole
// export sees one snapshot. It works on a hot standby too.
//
// The three queries are configurable, so another schema can be mapped onto the export;
// each is used as a subquery and must return the columns named in Queries.
package pgsource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/linkagogo/linkbackup/export"
)

// Default queries for the reference schema (testdata/schema.sql).
const (
	DefaultMemberQuery = `SELECT id, email, display_name FROM members WHERE plan = 'premium' AND weekly_backup AND deleted_at IS NULL`
	DefaultFolderQuery = `SELECT member_id, id, parent_id, name, position, created_at, updated_at FROM folders`
	DefaultLinkQuery   = `SELECT member_id, id, folder_id, url, title, notes, tags, is_private, read_later, position, created_at, updated_at, last_visited_at FROM links`
	// DefaultBatchSize is the number of members read per statement.
	DefaultBatchSize = 500
)

// Queries select what is exported. Each is wrapped as a subquery (no ORDER BY, LIMIT or
// $n parameters needed or allowed; a trailing semicolon is ignored) and joined on the
// member id, so the folders and links of members not selected are never read.
type Queries struct {
	// Members: one row per member to export, columns id (bigint), email (text),
	// display_name (text). Default DefaultMemberQuery.
	Members string
	// Folders: member_id, id, parent_id (NULL: top level), name, position,
	// created_at, updated_at. Default DefaultFolderQuery.
	Folders string
	// Links: member_id, id, folder_id (NULL: top level), url, title, notes, tags
	// (text[]), is_private, read_later, position, created_at, updated_at,
	// last_visited_at. Default DefaultLinkQuery.
	Links string
}

// DefaultQueries returns the queries for the reference schema.
func DefaultQueries() Queries {
	return Queries{Members: DefaultMemberQuery, Folders: DefaultFolderQuery, Links: DefaultLinkQuery}
}

// Options tune Read.
type Options struct {
	Queries Queries // zero fields take the defaults
	// BatchSize is the number of members per statement; 0 means DefaultBatchSize.
	BatchSize int
	// MemberID, when not 0, restricts the export to that member (still only if the
	// member query selects it).
	MemberID int64
}

// Rows is one member and its rows as read, ready for export.BuildTree. The callback
// of Read owns it.
type Rows struct {
	Member  export.Member
	Folders []export.Folder
	Links   []export.Link
}

// Stats counts what Read read.
type Stats struct {
	Members, Folders, Links int64
	Statements              int // batches: statements executed
}

// ErrQuery marks a problem with a configured query (as opposed to the connection).
var ErrQuery = errors.New("export query")

// Read calls fn for every selected member in member id order, with the member's folders
// and links, and stops at the first error fn returns. Rows are streamed: at most one
// member's rows are held at a time, whatever the number of members.
func Read(ctx context.Context, conn *pgx.Conn, o Options, fn func(*Rows) error) (Stats, error) {
	var st Stats
	q := o.Queries
	def := DefaultQueries()
	if q.Members == "" {
		q.Members = def.Members
	}
	if q.Folders == "" {
		q.Folders = def.Folders
	}
	if q.Links == "" {
		q.Links = def.Links
	}
	batch := o.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	stmt, err := Statement(q)
	if err != nil {
		return st, err
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return st, fmt.Errorf("pgsource: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	// The batch statement is cheap per row; JIT compilation (on when the planner's
	// cost passes jit_above_cost, as it does for large batches) costs more than it saves.
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		return st, fmt.Errorf("pgsource: %w", err)
	}

	after := int64(math.MinInt64)
	for {
		n, last, err := readBatch(ctx, tx, stmt, after, batch, o.MemberID, &st, fn)
		if err != nil {
			return st, err
		}
		st.Statements++
		if n < batch {
			return st, nil
		}
		after = last
	}
}

// readBatch runs one statement and returns how many members it held and the last id.
func readBatch(ctx context.Context, tx pgx.Tx, stmt string, after int64, batch int, only int64, st *Stats, fn func(*Rows) error) (int, int64, error) {
	rows, err := tx.Query(ctx, stmt, after, batch, only)
	if err != nil {
		return 0, 0, queryErr(err)
	}
	defer rows.Close()
	var (
		cur        *Rows
		n          int
		last       int64
		memberID   int64
		kind       int32
		id, ref    int64
		a, b, c    string
		tags       []string
		p, r       bool
		pos        int32
		t1, t2, t3 pgtype.Timestamptz
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		st.Members++
		st.Folders += int64(len(cur.Folders))
		st.Links += int64(len(cur.Links))
		m := cur
		cur = nil
		return fn(m)
	}
	for rows.Next() {
		tags = nil
		if err := rows.Scan(&memberID, &kind, &id, &ref, &a, &b, &c, &tags, &p, &r, &pos, &t1, &t2, &t3); err != nil {
			return 0, 0, queryErr(err)
		}
		switch kind {
		case 0:
			if err := flush(); err != nil {
				return 0, 0, err
			}
			cur = &Rows{Member: export.Member{ID: memberID, Email: a, DisplayName: b}}
			n++
			last = memberID
		case 1:
			if cur == nil || cur.Member.ID != memberID {
				return 0, 0, fmt.Errorf("pgsource: folder %d of member %d out of order", id, memberID)
			}
			cur.Folders = append(cur.Folders, export.Folder{ID: id, ParentID: ref, Name: a, Position: pos,
				CreatedAt: tstz(t1), UpdatedAt: tstz(t2)})
		case 2:
			if cur == nil || cur.Member.ID != memberID {
				return 0, 0, fmt.Errorf("pgsource: link %d of member %d out of order", id, memberID)
			}
			cur.Links = append(cur.Links, export.Link{ID: id, FolderID: ref, URL: a, Title: b, Notes: c, Tags: tags,
				Private: p, ReadLater: r, Position: pos, CreatedAt: tstz(t1), UpdatedAt: tstz(t2), VisitedAt: tstz(t3)})
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, queryErr(err)
	}
	if err := flush(); err != nil {
		return 0, 0, err
	}
	return n, last, nil
}

// tstz turns NULL and ±infinity into the zero time (not written).
func tstz(t pgtype.Timestamptz) time.Time {
	if !t.Valid || t.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return t.Time
}

// queryErr wraps err; errors the server blames on the statement (SQLSTATE classes 42
// syntax/undefined object and 22 data exception, e.g. a column of the wrong type) also
// match ErrQuery, so the caller can point at the configuration.
func queryErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "42") || strings.HasPrefix(pe.Code, "22")) {
		return fmt.Errorf("pgsource: %w (check export.member_query, folders_query, links_query): %w", ErrQuery, err)
	}
	return fmt.Errorf("pgsource: %w", err)
}

// Statement returns the SQL run for each batch: $1 is the last member id of the
// previous batch, $2 the batch size, $3 a member id to restrict to (0: none). Rows
// come ordered by member, then the member's own row (kind 0), its folders (kind 1) and
// its links (kind 2), each by (position, id).
func Statement(q Queries) (string, error) {
	clean := func(name, s string) (string, error) {
		if err := CheckQuery(s); err != nil {
			return "", fmt.Errorf("pgsource: %s query: %w", name, err)
		}
		return trimQuery(s), nil
	}
	m, err1 := clean("member", q.Members)
	f, err2 := clean("folder", q.Folders)
	l, err3 := clean("link", q.Links)
	if err := errors.Join(err1, err2, err3); err != nil {
		return "", err
	}
	// A nested loop over the batch's members in id order, each expanded LATERALly into
	// its own row, folders and links (index scans on member_id): the output is already
	// in member order, so the ORDER BY costs only an incremental sort of each member's
	// few rows, never a sort of the batch.
	return `SELECT s.id AS member_id, x.kind, x.id, x.ref, x.a, x.b, x.c, x.tags, x.p, x.r, x.pos, x.t1, x.t2, x.t3
FROM (
  SELECT DISTINCT ON (m.id) ` + memberCols + `
  FROM (` + m + `) AS m
  WHERE m.id > $1 AND ($3::bigint = 0 OR m.id = $3::bigint)
  ORDER BY m.id LIMIT $2) AS s (id, email, display_name)
CROSS JOIN LATERAL (
  SELECT 0 AS kind, 0::bigint AS id, 0::bigint AS ref, s.email AS a, s.display_name AS b, ''::text AS c,
         NULL::text[] AS tags, false AS p, false AS r, 0::integer AS pos,
         NULL::timestamptz AS t1, NULL::timestamptz AS t2, NULL::timestamptz AS t3
  UNION ALL
  SELECT 1, ` + folderID + `, ` + folderParent + `, ` + folderName + `, '', '', NULL,
         false, false, ` + folderPosition + `, ` + folderTimes + `, NULL
  FROM (` + f + `) AS f WHERE f.member_id = s.id
  UNION ALL
  SELECT 2, ` + linkID + `, ` + linkFolder + `, ` + linkTexts + `, ` + linkTags + `,
         ` + linkFlags + `, ` + linkPosTime + `
  FROM (` + l + `) AS l WHERE l.member_id = s.id
) AS x
ORDER BY s.id, x.kind, x.pos, x.id`, nil
}

// CheckQuery reports what Statement refuses in one configured query: an empty query or
// $n parameters. The error matches ErrQuery.
func CheckQuery(sql string) error {
	s := trimQuery(sql)
	if s == "" {
		return fmt.Errorf("%w: empty", ErrQuery)
	}
	if paramRe.MatchString(s) {
		return fmt.Errorf("%w: must not use $n parameters (it is wrapped as a subquery)", ErrQuery)
	}
	return nil
}

var paramRe = regexp.MustCompile(`\$[0-9]`)

// trimQuery drops surrounding white space and trailing semicolons.
func trimQuery(s string) string {
	return strings.TrimSpace(strings.TrimRight(strings.TrimSpace(s), "; \t\r\n"))
}
