package pgsource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	linkbackup "github.com/linkagogo/linkbackup"
	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/internal/readers"
	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// statementCounter counts the batch statements a connection runs.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "CROSS JOIN LATERAL") {
		c.n.Add(1)
	}
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// newDB returns a fresh database holding the reference schema and a connection to it.
func newDB(t testing.TB) (string, *pgx.Conn, *statementCounter) {
	t.Helper()
	dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
	conn, counter := connect(t, dsn)
	if _, err := conn.Exec(context.Background(), linkbackup.BookmarkSchema); err != nil {
		t.Fatal(err)
	}
	return dsn, conn, counter
}

func connect(t testing.TB, dsn string) (*pgx.Conn, *statementCounter) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	counter := &statementCounter{}
	cfg.Tracer = counter
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, counter
}

// fixture: members 1, 2, 6, 7 are selected; 3 (free), 4 (deleted), 5 (not opted in)
// are not. Member 1's data is inconsistent: link 102 sits in member 2's folder 20,
// folder 14's parent is member 2's folder 20, folders 12 and 13 form a cycle holding
// link 103. Every string of the unselected members and of member 2 contains CANARY.
const fixture = `
INSERT INTO members (id, email, display_name, plan, weekly_backup, deleted_at) VALUES
 (1, 'ada@example.test', 'Ada', 'premium', true, NULL),
 (2, 'bob@example.test', 'CANARY-bob', 'premium', true, NULL),
 (3, 'carol@example.test', 'Carol', 'free', true, NULL),
 (4, 'dave@example.test', 'Dave', 'premium', true, now()),
 (5, 'eve@example.test', 'Eve', 'premium', false, NULL),
 (6, 'fay@example.test', 'Fay', 'premium', true, NULL),
 (7, 'gus@example.test', 'Gus "<script>"', 'premium', true, NULL);
INSERT INTO folders (id, member_id, parent_id, name, position, created_at, updated_at) VALUES
 (10, 1, NULL, 'Work', 1, '2023-11-14 22:13:20Z', '2023-11-15 00:00:00Z'),
 (11, 1, 10, 'Go', 0, '2023-11-14 22:13:20Z', '2023-11-14 22:13:20Z'),
 (12, 1, NULL, 'Cycle A', 2, '2023-11-14 22:13:20Z', '2023-11-14 22:13:20Z'),
 (13, 1, NULL, 'Cycle B', 0, '2023-11-14 22:13:20Z', '2023-11-14 22:13:20Z'),
 (20, 2, NULL, 'CANARY-bob-folder', 0, '2023-11-14 22:13:20Z', '2023-11-14 22:13:20Z'),
 (21, 2, 20, 'CANARY-bob-subfolder', 0, '2023-11-14 22:13:20Z', '2023-11-14 22:13:20Z'),
 (14, 1, 20, 'Child of a foreign folder', 3, '2023-11-14 22:13:20Z', '2023-11-14 22:13:20Z'),
 (30, 3, NULL, 'CANARY-carol-folder', 0, now(), now()),
 (70, 7, NULL, '</DL><p><script>alert(1)</script>', 0, '2023-11-14 22:13:20Z', '2023-11-14 22:13:20Z');
UPDATE folders SET parent_id = 13 WHERE id = 12;
UPDATE folders SET parent_id = 12 WHERE id = 13;
INSERT INTO links (id, member_id, folder_id, url, title, notes, tags, is_private, read_later, position, created_at, updated_at, last_visited_at) VALUES
 (100, 1, 10, 'https://example.com/work', 'Work link', '', '{work}', false, false, 0, '2024-01-01Z', '2024-01-02Z', NULL),
 (101, 1, 11, 'https://go.dev/?a=1&not=2', 'Go "spec"', E'line 1\nline 2', '{go,"a,b"}', true, true, 0, '2024-01-01Z', '2024-01-01Z', '2024-02-01Z'),
 (102, 1, 20, 'https://example.com/cross', 'In a foreign folder', '', '{}', false, false, 0, '2024-01-01Z', '2024-01-01Z', NULL),
 (103, 1, 12, 'https://example.com/cycle', 'In a cycle', '', '{}', false, false, 0, '2024-01-01Z', '2024-01-01Z', NULL),
 (104, 1, NULL, 'https://example.com/top', '', 'top notes', '{}', false, false, 5, '2024-01-01Z', '2024-01-01Z', NULL),
 (105, 1, 14, 'https://example.com/under-foreign', 'Under a foreign parent', '', '{}', false, false, 0, '2024-01-01Z', '2024-01-01Z', NULL),
 (200, 2, 20, 'https://canary.example/bob', 'CANARY-bob-link', '', '{}', false, false, 0, '2024-01-01Z', '2024-01-01Z', NULL),
 (201, 2, 21, 'https://canary.example/bob2', 'CANARY-bob-link2', '', '{}', false, false, 0, '2024-01-01Z', '2024-01-01Z', NULL),
 (300, 3, 30, 'https://canary.example/carol', 'CANARY-free', '', '{}', false, false, 0, now(), now(), NULL),
 (400, 4, NULL, 'https://canary.example/dave', 'CANARY-deleted', '', '{}', false, false, 0, now(), now(), NULL),
 (500, 5, NULL, 'https://canary.example/eve', 'CANARY-not-opted-in', '', '{}', false, false, 0, now(), now(), NULL),
 (700, 7, 70, E'java\tscript:alert(1)', E'<script>\n</DL>', E'</DL><p>\r\nx', '{"<b>",NULL,""}', false, false, 0, '2024-01-01Z', 'infinity', NULL),
 (701, 7, 70, 'https://example.com/"onmouseover="x', '', '', '{}', false, false, 1, '2024-01-01Z', '2024-01-01Z', NULL);
`

func loadFixture(t testing.TB, conn *pgx.Conn) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), fixture); err != nil {
		t.Fatal(err)
	}
}

type rendered struct {
	rows        *pgsource.Rows
	tree        *export.Tree
	warns       []export.Warning
	html, xbel  []byte
	omittedHTML int
}

// readAll reads every member with o and renders it.
func readAll(t testing.TB, conn *pgx.Conn, o pgsource.Options) ([]rendered, pgsource.Stats) {
	t.Helper()
	var out []rendered
	st, err := pgsource.Read(context.Background(), conn, o, func(r *pgsource.Rows) error {
		tree, warns := export.BuildTree(r.Member, r.Folders, r.Links)
		var h, x bytes.Buffer
		hs, err := export.WriteHTML(&h, tree)
		if err != nil {
			return err
		}
		if _, err := export.WriteXBEL(&x, tree); err != nil {
			return err
		}
		out = append(out, rendered{r, tree, warns, h.Bytes(), x.Bytes(), hs.OmittedHTML})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

func ids(rs []rendered) []int64 {
	var ids []int64
	for _, r := range rs {
		ids = append(ids, r.rows.Member.ID)
	}
	return ids
}

func TestReadSelectsAndIsolates(t *testing.T) {
	t.Parallel()
	_, conn, _ := newDB(t)
	loadFixture(t, conn)
	rs, st := readAll(t, conn, pgsource.Options{})
	if got := ids(rs); !slices.Equal(got, []int64{1, 2, 6, 7}) {
		t.Fatalf("members %v, want [1 2 6 7] (premium, opted in, not deleted, in id order)", got)
	}
	if st.Members != 4 || st.Links != 10 || st.Statements != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, r := range rs {
		for _, f := range r.rows.Folders {
			if owner := ownerOf(t, conn, "folders", f.ID); owner != r.rows.Member.ID {
				t.Fatalf("member %d got folder %d of member %d", r.rows.Member.ID, f.ID, owner)
			}
		}
		for _, l := range r.rows.Links {
			if owner := ownerOf(t, conn, "links", l.ID); owner != r.rows.Member.ID {
				t.Fatalf("member %d got link %d of member %d", r.rows.Member.ID, l.ID, owner)
			}
		}
		if r.rows.Member.ID != 2 {
			for _, file := range [][]byte{r.html, r.xbel} {
				if bytes.Contains(file, []byte("CANARY")) || bytes.Contains(file, []byte("canary.example")) {
					t.Fatalf("member %d's export leaks another member's data:\n%s", r.rows.Member.ID, file)
				}
			}
		}
	}

	// Member 1: every link present, the inconsistent ones at the top level.
	ada := rs[0]
	want := "folder-parent-missing member=1 ids=[14] refs=[20]\nfolder-cycle member=1 ids=[12 13] refs=[12 12]\nlink-folder-missing member=1 ids=[102] refs=[20]\n"
	if got := formatWarnings(ada.warns); got != want {
		t.Fatalf("warnings:\n%swant:\n%s", got, want)
	}
	doc, err := readers.NetscapeGo(ada.html)
	if err != nil {
		t.Fatal(err)
	}
	where := map[string]string{}
	for _, l := range doc.Links {
		where[l.URL] = l.Path
	}
	for url, path := range map[string]string{
		"https://example.com/work": "Work", "https://go.dev/?a=1&not=2": "Work / Go", "https://example.com/cross": "",
		"https://example.com/cycle": "Cycle A", "https://example.com/top": "", "https://example.com/under-foreign": "Child of a foreign folder",
	} {
		got, ok := where[url]
		if !ok || got != path {
			t.Fatalf("link %s: in %q (present %v), want %q; doc %+v", url, got, ok, path, doc.Links)
		}
	}

	// Member 6 has nothing: a valid, empty export.
	if fay := rs[2]; fay.tree.Links != 0 || fay.tree.Folders != 0 || len(fay.warns) != 0 {
		t.Fatalf("member 6: %+v", fay.tree)
	}
	// Member 7: hostile content survives, the script URL only in XBEL; a NULL tag
	// element, NULL tags and an infinite date are read without error.
	gus := rs[3]
	if gus.omittedHTML != 1 || !bytes.Contains(gus.xbel, []byte(`href="java%09script:alert(1)"`)) {
		t.Fatalf("member 7: omitted %d\n%s", gus.omittedHTML, gus.xbel)
	}
	for _, r := range rs {
		if err := readers.XMLLint(t, r.xbel); err != nil {
			t.Fatalf("member %d: %v", r.rows.Member.ID, err)
		}
		if _, err := readers.Chromium(r.html); err != nil {
			t.Fatalf("member %d: %v", r.rows.Member.ID, err)
		}
	}
}

func ownerOf(t testing.TB, conn *pgx.Conn, table string, id int64) int64 {
	t.Helper()
	var m int64
	if err := conn.QueryRow(context.Background(), "SELECT member_id FROM "+table+" WHERE id = $1", id).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func formatWarnings(ws []export.Warning) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "%s member=%d ids=%v", w.Kind, w.Member, w.IDs)
		if len(w.Refs) > 0 {
			fmt.Fprintf(&b, " refs=%v", w.Refs)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestReadBatches: every batch size gives the same members in the same order, with
// one statement per batch (not per member).
func TestReadBatches(t *testing.T) {
	t.Parallel()
	_, conn, counter := newDB(t)
	loadFixture(t, conn)
	for _, batch := range []int{1, 2, 3, 4, 5, 1000} {
		before := counter.n.Load()
		rs, st := readAll(t, conn, pgsource.Options{BatchSize: batch})
		if got := ids(rs); !slices.Equal(got, []int64{1, 2, 6, 7}) {
			t.Fatalf("batch %d: members %v", batch, got)
		}
		wantStmts := 4/batch + 1 // a full last batch needs one more, empty, statement
		if n := counter.n.Load() - before; n != int64(wantStmts) || st.Statements != wantStmts {
			t.Fatalf("batch %d: %d statements (stats %d), want %d", batch, n, st.Statements, wantStmts)
		}
	}
}

func TestReadOneMember(t *testing.T) {
	t.Parallel()
	_, conn, _ := newDB(t)
	loadFixture(t, conn)
	for id, want := range map[int64][]int64{2: {2}, 7: {7}, 3: nil, 4: nil, 5: nil, 999: nil} {
		rs, _ := readAll(t, conn, pgsource.Options{MemberID: id, BatchSize: 1})
		if got := ids(rs); !slices.Equal(got, want) {
			t.Fatalf("member %d: got %v, want %v", id, got, want)
		}
	}
}

// TestReadCustomQueries maps a schema variant: folders soft-deleted by name, members
// chosen by e-mail. A link in a folder the folder query hides still appears, at the
// top level, with one warning.
func TestReadCustomQueries(t *testing.T) {
	t.Parallel()
	_, conn, _ := newDB(t)
	loadFixture(t, conn)
	q := pgsource.Queries{
		Members: `SELECT id, email, display_name FROM members WHERE email LIKE 'ada@%';`,
		Folders: pgsource.DefaultFolderQuery + ` WHERE name <> 'Work'`,
	}
	rs, _ := readAll(t, conn, pgsource.Options{Queries: q})
	if got := ids(rs); !slices.Equal(got, []int64{1}) {
		t.Fatalf("members %v", got)
	}
	var w *export.Warning
	for i := range rs[0].warns {
		if rs[0].warns[i].Kind == export.WarnLinkFolderMissing {
			w = &rs[0].warns[i]
		}
	}
	if w == nil || !slices.Equal(w.IDs, []int64{100, 102}) {
		t.Fatalf("warnings %+v", rs[0].warns)
	}
	if rs[0].tree.Links != 6 {
		t.Fatalf("%d links, want all 6", rs[0].tree.Links)
	}

	for name, bad := range map[string]pgsource.Queries{
		"syntax":    {Members: "SELEC id FROM members"},
		"column":    {Links: "SELECT member_id, id FROM links"},
		"parameter": {Members: "SELECT id, email, display_name FROM members WHERE id = $1"},
		"empty":     {Folders: " ; "},
	} {
		if bad.Members == "" {
			bad.Members = pgsource.DefaultMemberQuery
		}
		_, err := pgsource.Read(context.Background(), conn, pgsource.Options{Queries: bad}, func(*pgsource.Rows) error { return nil })
		if !errors.Is(err, pgsource.ErrQuery) {
			t.Fatalf("%s: error %v, want ErrQuery", name, err)
		}
	}
}

// TestReadOneSnapshot: rows committed while the export runs are not seen, even by
// later batches.
func TestReadOneSnapshot(t *testing.T) {
	t.Parallel()
	dsn, conn, _ := newDB(t)
	loadFixture(t, conn)
	other, _ := connect(t, dsn)
	first := true
	var got []int64
	_, err := pgsource.Read(context.Background(), conn, pgsource.Options{BatchSize: 1}, func(r *pgsource.Rows) error {
		got = append(got, r.Member.ID)
		if first {
			first = false
			_, err := other.Exec(context.Background(), `INSERT INTO members (id, email, plan, weekly_backup) VALUES (1000, 'late@example.test', 'premium', true);
				INSERT INTO links (member_id, folder_id, url) VALUES (6, NULL, 'https://example.com/late')`)
			return err
		}
		if r.Member.ID == 6 && len(r.Links) != 0 {
			return fmt.Errorf("member 6 sees a link committed after the export began")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{1, 2, 6, 7}) {
		t.Fatalf("members %v: a member committed during the export was seen", got)
	}
}

func TestReadCallbackErrorStops(t *testing.T) {
	t.Parallel()
	_, conn, _ := newDB(t)
	loadFixture(t, conn)
	stop := errors.New("stop")
	n := 0
	_, err := pgsource.Read(context.Background(), conn, pgsource.Options{}, func(*pgsource.Rows) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d calls", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pgsource.Read(ctx, conn, pgsource.Options{}, func(*pgsource.Rows) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}
