package bookmarkgen

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	linkbackup "github.com/linkagogo/linkbackup"
)

// LoadSchema executes linkbackup.BookmarkSchema on conn (the tables must not exist).
func LoadSchema(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, linkbackup.BookmarkSchema); err != nil {
		return fmt.Errorf("bookmarkgen: load schema: %w", err)
	}
	return nil
}

// rowsPerBatch bounds one COPY statement (and so the queue of foreign-key checks the
// server keeps for it).
const rowsPerBatch = 100_000

// Generate fills the empty tables members, folders and links according to opts, in one
// transaction, then advances their identity sequences and runs ANALYZE. It refuses to
// touch tables that already hold rows.
func Generate(ctx context.Context, conn *pgx.Conn, opts Options) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	var nonEmpty bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM members) OR EXISTS (SELECT FROM folders)
		OR EXISTS (SELECT FROM links)`).Scan(&nonEmpty)
	if err != nil {
		return Stats{}, fmt.Errorf("bookmarkgen: check tables (is the schema loaded?): %w", err)
	}
	if nonEmpty {
		return Stats{}, fmt.Errorf("bookmarkgen: members, folders or links already hold rows: generate into an empty schema")
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("bookmarkgen: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit

	var st Stats
	tables := []struct {
		name    string
		cols    []string
		perRow  int // rows per member, for batching
		newSrc  func(lo, hi int64) source
		counter *int64
	}{
		{"members", memberCols, 1, func(lo, hi int64) source { return newMemberSource(opts, lo, hi) }, &st.Members},
		{"folders", folderCols, opts.folders(), func(lo, hi int64) source { return newFolderSource(opts, lo, hi) }, &st.Folders},
		{"links", linkCols, opts.LinksPerMember, func(lo, hi int64) source { return newLinkSource(opts, lo, hi) }, &st.Links},
	}
	for _, t := range tables {
		step := int64(max(1, rowsPerBatch/max(1, t.perRow)))
		for lo := int64(1); lo <= int64(opts.Members); lo += step {
			hi := min(lo+step-1, int64(opts.Members))
			src := t.newSrc(lo, hi)
			n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, src)
			if err != nil {
				return Stats{}, fmt.Errorf("bookmarkgen: copy %s of members %d..%d: %w", t.name, lo, hi, err)
			}
			*t.counter += n
		}
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), $2, $3)`,
			t.name, max(*t.counter, 1), *t.counter > 0); err != nil {
			return Stats{}, fmt.Errorf("bookmarkgen: advance %s id sequence: %w", t.name, err)
		}
	}
	if opts.Inconsistent {
		if st.Anomalies, err = addAnomalies(ctx, tx, opts); err != nil {
			return Stats{}, err
		}
	}
	err = tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE plan = 'premium'),
		count(*) FILTER (WHERE plan = 'premium' AND weekly_backup),
		count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM members`).Scan(&st.Premium, &st.OptedIn, &st.Deleted)
	if err != nil {
		return Stats{}, fmt.Errorf("bookmarkgen: count members: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Stats{}, fmt.Errorf("bookmarkgen: commit: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE members, folders, links"); err != nil {
		return Stats{}, fmt.Errorf("bookmarkgen: analyze: %w", err)
	}
	return st, nil
}

// source is a pgx.CopyFromSource over the rows of members lo..hi of one table.
type source interface{ pgx.CopyFromSource }

// Random streams, one per table and member.
const (
	streamMember uint64 = iota + 1
	streamMemberTime
	streamFolder
	streamLink
)

// memberCreated is member id's created_at, needed by all three tables.
func memberCreated(seed, id int64) time.Time {
	var r rng
	r.seed(seed, id, streamMemberTime)
	return BaseTime.Add(time.Duration(r.intn(4*365*86400)) * time.Second)
}

// after returns t plus a random duration of up to maxDays days, in whole milliseconds.
func after(r *rng, t time.Time, maxDays int) time.Time {
	return t.Add(time.Duration(r.intn(maxDays*86400*1000)) * time.Millisecond)
}

var memberCols = []string{"id", "email", "display_name", "plan", "weekly_backup", "created_at", "deleted_at"}

type memberSource struct {
	opts   Options
	id, hi int64
	r      rng
	vals   []any
}

func newMemberSource(opts Options, lo, hi int64) *memberSource {
	return &memberSource{opts: opts, id: lo - 1, hi: hi, vals: make([]any, len(memberCols))}
}

func (s *memberSource) Next() bool { s.id++; return s.id <= s.hi }
func (s *memberSource) Err() error { return nil }

func (s *memberSource) Values() ([]any, error) {
	id, r := s.id, &s.r
	r.seed(s.opts.Seed, id, streamMember)
	premium := r.percent(s.opts.PremiumPercent)
	optIn := premium && r.percent(s.opts.OptInPercent)
	deleted := r.percent(s.opts.DeletedPercent)
	email := fmt.Sprintf("member%d@example.test", id)
	name := pick(r, firstNames) + " " + pick(r, lastNames)
	if s.opts.Hostile && id%hostileMemberEvery == 0 {
		k := int(id / hostileMemberEvery)
		email = hostileEmail(id, k)
		name = hostileDisplayNames[k%len(hostileDisplayNames)]
	}
	plan := "free"
	if premium {
		plan = "premium"
	}
	created := memberCreated(s.opts.Seed, id)
	var deletedAt any
	if deleted {
		deletedAt = after(r, created, 365)
	}
	v := s.vals
	v[0], v[1], v[2], v[3], v[4], v[5], v[6] = id, email, name, plan, optIn, created, deletedAt
	return v, nil
}

var folderCols = []string{"id", "member_id", "parent_id", "name", "position", "created_at", "updated_at"}

type folderSource struct {
	opts     Options
	f        int   // folders per member
	member   int64 // current member
	hi       int64
	j        int // index of the current folder within the member, -1 before the first
	r        rng
	created  time.Time
	depth    []int   // depth of each folder of the member, 1 = top level
	parent   []int   // index of the parent, -1 = top level
	children []int32 // next position under each folder; children[f] is the top level
	vals     []any
}

func newFolderSource(opts Options, lo, hi int64) *folderSource {
	f := opts.folders()
	return &folderSource{opts: opts, f: f, member: lo - 1, hi: hi, j: f - 1,
		depth: make([]int, f), parent: make([]int, f), children: make([]int32, f+1),
		vals: make([]any, len(folderCols))}
}

func (s *folderSource) Err() error { return nil }

func (s *folderSource) Next() bool {
	s.j++
	if s.j < s.f {
		return true
	}
	s.member++
	if s.member > s.hi {
		return false
	}
	s.j = 0
	s.r.seed(s.opts.Seed, s.member, streamFolder)
	s.created = memberCreated(s.opts.Seed, s.member)
	clear(s.children)
	return true
}

func (s *folderSource) Values() ([]any, error) {
	r, j := &s.r, s.j
	id := (s.member-1)*int64(s.f) + int64(j) + 1
	// Parent: top level for the first folder and ~35% of the others, else an earlier
	// folder, moved up while the child would be deeper than MaxFolderDepth.
	p := -1
	if j > 0 && !r.percent(35) {
		p = r.intn(j)
		for p >= 0 && s.depth[p] >= s.opts.MaxFolderDepth {
			p = s.parent[p]
		}
	}
	s.parent[j] = p
	var parentID any
	slot := s.f // top level
	if p >= 0 {
		s.depth[j] = s.depth[p] + 1
		parentID = (s.member-1)*int64(s.f) + int64(p) + 1
		slot = p
	} else {
		s.depth[j] = 1
	}
	pos := s.children[slot]
	s.children[slot]++

	name := title(r, 1+r.intn(3))
	if s.opts.Hostile && id%hostileFolderEvery == 0 {
		k := int(id/hostileFolderEvery) % len(hostileFolderNames)
		name = hostileFolderNames[k]
		if k == longFolderVariant {
			name = longText(r, 1000, true)
		}
	}
	created := after(r, s.created, 365)
	updated := created
	if r.percent(50) {
		updated = after(r, created, 365)
	}
	v := s.vals
	v[0], v[1], v[2], v[3], v[4], v[5], v[6] = id, s.member, parentID, name, pos, created, updated
	return v, nil
}

var linkCols = []string{"id", "member_id", "folder_id", "url", "title", "notes", "tags",
	"is_private", "read_later", "position", "created_at", "updated_at", "last_visited_at"}

var manyTagsList = manyTags()

type linkSource struct {
	opts    Options
	f       int
	member  int64
	hi      int64
	id      int64 // current link id
	left    int   // links of the current member still to produce
	r       rng
	created time.Time
	pos     []int32 // next position in each folder; pos[f] is the top level
	vals    []any
}

func newLinkSource(opts Options, lo, hi int64) *linkSource {
	// Link ids are dense in member order: count the links of members before lo.
	var first int64
	if !opts.Hostile {
		first = (lo - 1) * int64(opts.LinksPerMember)
	} else {
		first = (lo - 1 - (lo-1)/emptyMemberEvery) * int64(opts.LinksPerMember)
	}
	f := opts.folders()
	return &linkSource{opts: opts, f: f, member: lo - 1, hi: hi, id: first,
		pos: make([]int32, f+1), vals: make([]any, len(linkCols))}
}

func (s *linkSource) Err() error { return nil }

func (s *linkSource) Next() bool {
	for s.left == 0 {
		s.member++
		if s.member > s.hi {
			return false
		}
		s.left = s.opts.linksOf(s.member)
		s.r.seed(s.opts.Seed, s.member, streamLink)
		s.created = memberCreated(s.opts.Seed, s.member)
		clear(s.pos)
	}
	s.left--
	s.id++
	return true
}

func (s *linkSource) Values() ([]any, error) {
	r, id := &s.r, s.id
	var folderID any
	slot := s.f
	if !r.percent(25) {
		slot = r.intn(s.f)
		folderID = (s.member-1)*int64(s.f) + int64(slot) + 1
	}
	pos := s.pos[slot]
	s.pos[slot]++

	var url, ttl, notes string
	var tags []string
	switch s.opts.Shape {
	case ShapeSmall:
		url = shortURL(r)
		ttl = title(r, 1+r.intn(3))
		tags = []string{}
		if r.percent(30) {
			tags = []string{pick(r, tagWords)}
		}
	case ShapeWide:
		url = plainURL(r)
		ttl = sentence(r, 15+r.intn(30))
		notes = longText(r, 4000+r.intn(8000), true)
		tags = plainTags(r)
	default:
		url = plainURL(r)
		ttl = title(r, 2+r.intn(6))
		if r.percent(30) {
			notes = sentence(r, 5+r.intn(20))
		}
		tags = plainTags(r)
	}
	if s.opts.Hostile && id%hostileEvery == 0 {
		k := int(id / hostileEvery)
		if i := k % len(hostileTitles); i == longTitleVariant {
			ttl = longText(r, longTitleLen, true)
		} else {
			ttl = hostileTitles[i]
		}
		if i := k % len(hostileURLs); i == longURLVariant {
			url = "https://example.com/" + strings.ReplaceAll(longText(r, 2000, false), " ", "/")
		} else {
			url = hostileURLs[i]
		}
		if i := k % len(hostileNotes); i == longNotesVariant {
			notes = longText(r, longNotesLen, true)
		} else {
			notes = hostileNotes[i]
		}
		if i := k % len(hostileTags); i == manyTagsVariant {
			tags = manyTagsList
		} else {
			tags = hostileTags[i]
		}
	}
	private := r.percent(10)
	readLater := r.percent(15)
	created := after(r, s.created, 2*365)
	updated := created
	if r.percent(40) {
		updated = after(r, created, 180)
	}
	var visited any
	if r.percent(60) {
		visited = after(r, created, 365)
	}
	v := s.vals
	v[0], v[1], v[2], v[3], v[4], v[5], v[6] = id, s.member, folderID, url, ttl, notes, tags
	v[7], v[8], v[9], v[10], v[11], v[12] = private, readLater, pos, created, updated, visited
	return v, nil
}
