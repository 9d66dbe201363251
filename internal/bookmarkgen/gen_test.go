package bookmarkgen_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// newDB returns a connection to a fresh database holding the bookmark schema.
func newDB(t *testing.T) *pgx.Conn {
	t.Helper()
	dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if err := bookmarkgen.LoadSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return conn
}

func generate(t *testing.T, conn *pgx.Conn, opts bookmarkgen.Options) bookmarkgen.Stats {
	t.Helper()
	st, err := bookmarkgen.Generate(context.Background(), conn, opts)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	return st
}

func smallOptions() bookmarkgen.Options {
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember, o.Seed = 120, 40, 7
	return o
}

// contentHash returns an md5 of every row of the three tables, in id order.
func contentHash(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var h []string
	for _, table := range []string{"members", "folders", "links"} {
		var s string
		err := conn.QueryRow(context.Background(), `SELECT coalesce(md5(string_agg(t::text, E'\n' ORDER BY id)), '')
			FROM `+table+` t`).Scan(&s)
		if err != nil {
			t.Fatalf("hash %s: %v", table, err)
		}
		h = append(h, table+"="+s)
	}
	return strings.Join(h, " ")
}

func count(t *testing.T, conn *pgx.Conn, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	opts := smallOptions()
	opts.Inconsistent = true
	a, b, c := newDB(t), newDB(t), newDB(t)
	sa, sb := generate(t, a, opts), generate(t, b, opts)
	opts.Seed++
	generate(t, c, opts)
	ha, hb, hc := contentHash(t, a), contentHash(t, b), contentHash(t, c)
	if ha != hb {
		t.Fatalf("same options, different content:\n%s\n%s", ha, hb)
	}
	if ha == hc {
		t.Fatalf("different seeds, same content: %s", ha)
	}
	if sa.Links != sb.Links || len(sa.Anomalies) != len(sb.Anomalies) {
		t.Fatalf("stats differ: %+v vs %+v", sa, sb)
	}
	for i := range sa.Anomalies {
		if sa.Anomalies[i] != sb.Anomalies[i] {
			t.Fatalf("anomaly %d differs: %+v vs %+v", i, sa.Anomalies[i], sb.Anomalies[i])
		}
	}
}

func TestGenerateCounts(t *testing.T) {
	t.Parallel()
	conn := newDB(t)
	opts := smallOptions()
	st := generate(t, conn, opts)
	ctx := context.Background()

	// 120 members, every 97th without links; 40/10 = 4 folders each.
	want := bookmarkgen.Stats{Members: 120, Folders: 120 * 4, Links: 119 * 40}
	if st.Members != want.Members || st.Folders != want.Folders || st.Links != want.Links {
		t.Fatalf("stats %+v, want members/folders/links %d/%d/%d", st, want.Members, want.Folders, want.Links)
	}
	for table, n := range map[string]int64{"members": st.Members, "folders": st.Folders, "links": st.Links} {
		if got := count(t, conn, "SELECT count(*) FROM "+table); got != n {
			t.Fatalf("%s: %d rows, stats say %d", table, got, n)
		}
		if got := count(t, conn, "SELECT max(id) FROM "+table); got != n {
			t.Fatalf("%s: max id %d, want dense ids 1..%d", table, got, n)
		}
	}
	if got := count(t, conn, `SELECT count(*) FROM members WHERE plan = 'premium'`); got != st.Premium || got == 0 || got == st.Members {
		t.Fatalf("premium: %d rows, stats %d (of %d members)", got, st.Premium, st.Members)
	}
	if got := count(t, conn, `SELECT count(*) FROM members WHERE plan = 'premium' AND weekly_backup`); got != st.OptedIn || got == 0 {
		t.Fatalf("opted in: %d rows, stats %d", got, st.OptedIn)
	}
	if got := count(t, conn, `SELECT count(*) FROM members WHERE weekly_backup AND plan <> 'premium'`); got != 0 {
		t.Fatalf("%d free members opted in without Inconsistent", got)
	}
	if got := count(t, conn, `SELECT count(*) FROM members WHERE deleted_at IS NOT NULL`); got != st.Deleted {
		t.Fatalf("deleted: %d rows, stats %d", got, st.Deleted)
	}
	// The identity sequences were advanced: plain inserts get fresh ids.
	var mid, fid, lid int64
	if err := conn.QueryRow(ctx, `INSERT INTO members (email) VALUES ('new@example.test') RETURNING id`).Scan(&mid); err != nil {
		t.Fatalf("insert member after generate: %v", err)
	}
	if err := conn.QueryRow(ctx, `INSERT INTO folders (member_id, name) VALUES ($1, 'n') RETURNING id`, mid).Scan(&fid); err != nil {
		t.Fatalf("insert folder after generate: %v", err)
	}
	if err := conn.QueryRow(ctx, `INSERT INTO links (member_id, url) VALUES ($1, 'u') RETURNING id`, mid).Scan(&lid); err != nil {
		t.Fatalf("insert link after generate: %v", err)
	}
	if mid != st.Members+1 || fid != st.Folders+1 || lid != st.Links+1 {
		t.Fatalf("new ids %d/%d/%d, want %d/%d/%d", mid, fid, lid, st.Members+1, st.Folders+1, st.Links+1)
	}
}

func TestGenerateHostileContent(t *testing.T) {
	t.Parallel()
	conn := newDB(t)
	generate(t, conn, smallOptions())
	cases := []struct{ name, where string }{
		{"quotes in title", `links WHERE title LIKE '%''%' AND title LIKE '%"%'`},
		{"script in title", `links WHERE title LIKE '%<script>alert(1)</script>%'`},
		{"</DL> and </A> in title", `links WHERE title LIKE '%</DL>%' AND title LIKE '%</A>%'`},
		{"</DL> in notes", `links WHERE notes LIKE '%</DL>%'`},
		{"newline, CR, tab in title", `links WHERE title LIKE E'%\n%' AND title LIKE E'%\r%' AND title LIKE E'%\t%'`},
		{"empty title", `links WHERE title = ''`},
		{"10,000-char title", `links WHERE length(title) >= 10000`},
		{"10,000+-char notes", `links WHERE length(notes) >= 10000`},
		{"entity-like URL params", `links WHERE url LIKE '%&not=1&copy=2%'`},
		{"javascript: URL", `links WHERE url LIKE 'javascript:%'`},
		{"data: URL", `links WHERE url LIKE 'data:text/html,%'`},
		{"Japanese", `links WHERE title ~ '[ぁ-ヿ]'`},
		{"Arabic", `links WHERE title ~ '[؀-ۿ]'`},
		{"Cyrillic", `links WHERE title ~ '[А-я]'`},
		{"emoji in title", `links WHERE title LIKE '%🔖%'`},
		{"backslash in title", `links WHERE title LIKE '%\\%'`},
		{"backslash in URL", `links WHERE url LIKE '%\\%'`},
		{"COPY null marker as text", `links WHERE notes = '\N' OR title = '\N'`},
		{"tag with comma", `links WHERE EXISTS (SELECT FROM unnest(tags) g WHERE g LIKE '%,%')`},
		{"tag with quote", `links WHERE EXISTS (SELECT FROM unnest(tags) g WHERE g LIKE '%"%')`},
		{"empty tag", `links WHERE '' = ANY(tags)`},
		{"no tags", `links WHERE tags = '{}'`},
		{"NULL folder_id", `links WHERE folder_id IS NULL`},
		{"NULL last_visited_at", `links WHERE last_visited_at IS NULL`},
		{"last_visited_at set", `links WHERE last_visited_at IS NOT NULL`},
		{"NULL parent_id", `folders WHERE parent_id IS NULL`},
		{"nested folder", `folders WHERE parent_id IS NOT NULL`},
		{"hostile folder name", `folders WHERE name LIKE '%</DL>%'`},
		{"empty folder name", `folders WHERE name = ''`},
		{"NULL deleted_at", `members WHERE deleted_at IS NULL`},
		{"deleted member", `members WHERE deleted_at IS NOT NULL`},
		{"emoji display name", `members WHERE display_name LIKE '%🦊%'`},
		{"member without links", `members m WHERE NOT EXISTS (SELECT FROM links l WHERE l.member_id = m.id)`},
	}
	for _, c := range cases {
		if n := count(t, conn, "SELECT count(*) FROM "+c.where); n == 0 {
			t.Errorf("%s: no row matches %s", c.name, c.where)
		}
	}
}

// consistencyChecks each count rows that break an application invariant.
var consistencyChecks = map[string]string{
	"cross-member link":   `SELECT count(*) FROM links l JOIN folders f ON f.id = l.folder_id WHERE f.member_id <> l.member_id`,
	"cross-member parent": `SELECT count(*) FROM folders c JOIN folders p ON p.id = c.parent_id WHERE p.member_id <> c.member_id`,
	// Folders that do not reach a top-level folder: cycles and their subtrees.
	"unreachable folder": `WITH RECURSIVE r AS (SELECT id FROM folders WHERE parent_id IS NULL
		UNION ALL SELECT f.id FROM folders f JOIN r ON f.parent_id = r.id)
		SELECT (SELECT count(*) FROM folders) - (SELECT count(*) FROM r)`,
	"free opted-in":             `SELECT count(*) FROM members WHERE weekly_backup AND plan <> 'premium'`,
	"duplicate link position":   `SELECT count(*) FROM (SELECT FROM links GROUP BY member_id, folder_id, position HAVING count(*) > 1) d`,
	"duplicate folder position": `SELECT count(*) FROM (SELECT FROM folders GROUP BY member_id, parent_id, position HAVING count(*) > 1) d`,
}

func TestGenerateConsistent(t *testing.T) {
	t.Parallel()
	conn := newDB(t)
	opts := smallOptions()
	generate(t, conn, opts)
	for name, q := range consistencyChecks {
		if n := count(t, conn, q); n != 0 {
			t.Errorf("%s: %d rows with Inconsistent=false", name, n)
		}
	}
	depth := count(t, conn, `WITH RECURSIVE r AS (SELECT id, 1 AS d FROM folders WHERE parent_id IS NULL
		UNION ALL SELECT f.id, r.d + 1 FROM folders f JOIN r ON f.parent_id = r.id) SELECT max(d) FROM r`)
	if depth < 2 || depth > int64(opts.MaxFolderDepth) {
		t.Fatalf("folder depth %d, want 2..%d", depth, opts.MaxFolderDepth)
	}
}

func TestGenerateInconsistent(t *testing.T) {
	t.Parallel()
	conn := newDB(t)
	opts := smallOptions()
	opts.Inconsistent = true
	st := generate(t, conn, opts)
	for _, name := range []string{"cross-member link", "cross-member parent", "unreachable folder", "free opted-in"} {
		if n := count(t, conn, consistencyChecks[name]); n == 0 {
			t.Errorf("%s: no row with Inconsistent=true", name)
		}
	}
	kinds := map[string]bookmarkgen.Anomaly{}
	for _, a := range st.Anomalies {
		kinds[a.Kind] = a
	}
	for _, k := range []string{bookmarkgen.AnomalyCanaryFolder, bookmarkgen.AnomalyCrossMemberLink,
		bookmarkgen.AnomalyCrossMemberParent, bookmarkgen.AnomalyFolderCycle, bookmarkgen.AnomalySelfParent,
		bookmarkgen.AnomalyFreeOptedIn, bookmarkgen.AnomalyDeletedOptedIn} {
		if _, ok := kinds[k]; !ok {
			t.Fatalf("anomaly %s missing from stats: %+v", k, st.Anomalies)
		}
	}
	cyc := kinds[bookmarkgen.AnomalyFolderCycle]
	if n := count(t, conn, `SELECT count(*) FROM folders a JOIN folders b ON b.id = a.parent_id
		WHERE a.id = $1 AND b.parent_id = a.id AND a.member_id = $2`, cyc.ID, cyc.Member); n != 1 {
		t.Fatalf("no a->b->a cycle at folder %d", cyc.ID)
	}
	if n := count(t, conn, `SELECT count(*) FROM links WHERE folder_id = $1`, cyc.ID); n == 0 {
		t.Fatalf("no link inside the cycle folder %d", cyc.ID)
	}
	self := kinds[bookmarkgen.AnomalySelfParent]
	if n := count(t, conn, `SELECT count(*) FROM folders WHERE id = $1 AND parent_id = id`, self.ID); n != 1 {
		t.Fatalf("folder %d is not its own parent", self.ID)
	}
	victim := kinds[bookmarkgen.AnomalyCrossMemberLink].Member
	if n := count(t, conn, `SELECT count(*) FROM members WHERE id = $1 AND plan = 'premium' AND weekly_backup AND deleted_at IS NULL`, victim); n != 1 {
		t.Fatalf("cross-member link victim %d is not an opted-in premium member", victim)
	}
	if n := count(t, conn, `SELECT count(*) FROM links l JOIN folders f ON f.id = l.folder_id
		WHERE l.member_id = $1 AND f.member_id <> $1 AND f.name LIKE $2 || '%'`, victim, bookmarkgen.Canary); n != 1 {
		t.Fatalf("victim %d has %d links in another member's canary folder, want 1", victim, n)
	}
	del := kinds[bookmarkgen.AnomalyDeletedOptedIn].Member
	if n := count(t, conn, `SELECT count(*) FROM members m WHERE id = $1 AND plan = 'premium' AND weekly_backup
		AND deleted_at IS NOT NULL AND EXISTS (SELECT FROM links WHERE member_id = m.id AND title LIKE $2 || '%')`,
		del, bookmarkgen.Canary); n != 1 {
		t.Fatalf("member %d is not a deleted opted-in member with a canary link", del)
	}
}

func TestGenerateRefusesNonEmpty(t *testing.T) {
	t.Parallel()
	conn := newDB(t)
	opts := smallOptions()
	opts.Members = 3
	generate(t, conn, opts)
	if _, err := bookmarkgen.Generate(context.Background(), conn, opts); err == nil {
		t.Fatal("second Generate into the same tables succeeded")
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	if err := bookmarkgen.DefaultOptions().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, mod := range map[string]func(*bookmarkgen.Options){
		"negative members":       func(o *bookmarkgen.Options) { o.Members = -1 },
		"premium over 100":       func(o *bookmarkgen.Options) { o.PremiumPercent = 101 },
		"depth 0":                func(o *bookmarkgen.Options) { o.MaxFolderDepth = 0 },
		"inconsistent too small": func(o *bookmarkgen.Options) { o.Inconsistent, o.Members = true, 3 },
		"inconsistent one link":  func(o *bookmarkgen.Options) { o.Inconsistent, o.LinksPerMember = true, 1 },
		"inconsistent 3 folders": func(o *bookmarkgen.Options) { o.Inconsistent, o.FoldersPerMember = true, 3 },
		"unknown shape":          func(o *bookmarkgen.Options) { o.Shape = "tall" },
	} {
		o := bookmarkgen.DefaultOptions()
		mod(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, o)
		}
	}
}

// The shapes change the links' sizes only: same counts, short rows for small, notes
// stored out of line (TOAST) for wide.
func TestGenerateShapes(t *testing.T) {
	t.Parallel()
	want := map[string]struct{ minAvg, maxAvg float64 }{
		bookmarkgen.ShapeSmall:   {0, 80},     // url + title + tags, bytes
		bookmarkgen.ShapeWide:    {4000, 1e9}, // with notes of 4-12 KB
		bookmarkgen.ShapeDefault: {60, 400},
	}
	for shape, w := range want {
		conn := newDB(t)
		opts := smallOptions()
		opts.Shape = shape
		st := generate(t, conn, opts)
		def := smallOptions()
		if st.Links != int64(def.Members-def.Members/97)*int64(def.LinksPerMember) {
			t.Fatalf("shape %q: %d links", shape, st.Links)
		}
		var avg float64
		if err := conn.QueryRow(context.Background(), `SELECT avg(octet_length(url) + octet_length(title) + octet_length(notes))::float8
			FROM links WHERE id % 50 <> 0`).Scan(&avg); err != nil {
			t.Fatal(err)
		}
		if avg < w.minAvg || avg > w.maxAvg {
			t.Fatalf("shape %q: ordinary links average %.0f bytes of url, title and notes; want %v..%v", shape, avg, w.minAvg, w.maxAvg)
		}
		if shape == bookmarkgen.ShapeWide {
			if n := count(t, conn, `SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'links'`); n < 1<<20 {
				t.Fatalf("shape wide: the links' TOAST table holds %d bytes", n)
			}
		}
	}
}
