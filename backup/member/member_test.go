package member_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/backup/member"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestRestoreMember runs on a snapshot in each COPY format: the member's rows are picked
// out of binary tuples or text lines.
func TestRestoreMember(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"binary", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			testRestoreMember(t, format == "text")
		})
	}
}

func testRestoreMember(t *testing.T, text bool) {
	g := bookmarkgen.DefaultOptions()
	g.Members, g.LinksPerMember, g.Seed = 6, 30, 7
	live, _ := testenv.BookmarkDB(t, g)
	st, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := backup.Options{Source: live, Store: st, Jobs: 3, ToolVersion: "test", TextFormat: text}
	m, err := backup.Backup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range m.Tables {
		if tb.Binary() == text {
			t.Fatalf("%s: binary COPY = %v with TextFormat %v", tb.String(), tb.Binary(), text)
		}
	}
	c, err := pgx.Connect(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(ctx) })
	q := func(sql string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := c.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	// Member 2 had links and folders; the snapshot holds them.
	snapLinks := q("SELECT count(*) FROM links WHERE member_id = 2")
	snapFolders := q("SELECT count(*) FROM folders WHERE member_id = 2")
	if snapLinks == 0 || snapFolders == 0 {
		t.Fatalf("generated member 2 has %d links, %d folders", snapLinks, snapFolders)
	}
	// Since then: member 2 kept one link but renamed it (current must win), one of their
	// link ids now belongs to member 3 (must be skipped, untouched), the rest and all
	// folders were deleted.
	keep := q("SELECT min(id) FROM links WHERE member_id = 2")
	moved := q("SELECT max(id) FROM links WHERE member_id = 2")
	mustExec(t, c, "UPDATE links SET title = 'renamed since' WHERE id = $1", keep)
	mustExec(t, c, "UPDATE links SET member_id = 3, folder_id = NULL WHERE id = $1", moved)
	mustExec(t, c, "DELETE FROM links WHERE member_id = 2 AND id <> $1", keep)
	mustExec(t, c, "DELETE FROM folders WHERE member_id = 2")
	others := func() string {
		var s string
		c.QueryRow(ctx, "SELECT md5(string_agg(l::text, ',' ORDER BY id)) FROM links l WHERE member_id <> 2").Scan(&s)
		return s
	}
	before := others()

	// Dry run: the report, no change.
	rep, err := member.Restore(ctx, member.Options{Store: st, ID: m.ID, Target: live, MemberID: 2, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := q("SELECT count(*) FROM links WHERE member_id = 2"); n != 1 {
		t.Fatalf("dry run changed the database: member 2 has %d links", n)
	}
	links := rep.Tables[2]
	if links.InSnapshot != snapLinks || links.AlreadyPresent != 1 || links.SkippedOtherMember != 1 || links.Inserted != snapLinks-2 {
		t.Fatalf("dry-run links report %+v (snapshot had %d)", links, snapLinks)
	}
	if rep.Tables[1].Inserted != snapFolders || rep.Tables[0].AlreadyPresent != 1 {
		t.Fatalf("dry-run report %+v", rep.Tables)
	}

	// For real.
	rep, err = member.Restore(ctx, member.Options{Store: st, ID: m.ID, Target: live, MemberID: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DryRun || rep.Tables[2].Inserted != snapLinks-2 {
		t.Fatalf("report of the real run: %+v", rep)
	}
	if n := q("SELECT count(*) FROM links WHERE member_id = 2"); n != snapLinks-1 {
		t.Fatalf("member 2 has %d links after restore, want %d", n, snapLinks-1)
	}
	if n := q("SELECT count(*) FROM folders WHERE member_id = 2"); n != snapFolders {
		t.Fatalf("member 2 has %d folders after restore, want %d", n, snapFolders)
	}
	var title string
	c.QueryRow(ctx, "SELECT title FROM links WHERE id = $1", keep).Scan(&title)
	if title != "renamed since" {
		t.Fatalf("existing row overwritten: title %q", title)
	}
	if after := others(); after != before {
		t.Fatal("other members' links changed")
	}
	// Restored links point only at member 2's own folders.
	if n := q("SELECT count(*) FROM links l JOIN folders f ON f.id = l.folder_id WHERE l.member_id = 2 AND f.member_id <> 2"); n != 0 {
		t.Fatalf("%d restored links point into another member's folders", n)
	}
	// Unknown member: a clear error, nothing done.
	_, err = member.Restore(ctx, member.Options{Store: st, ID: m.ID, Target: live, MemberID: 999999})
	if !errors.Is(err, backup.ErrNoSnapshot) {
		t.Fatalf("unknown member: %v", err)
	}
	// A database without the bookmark tables is refused.
	other := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	if _, err := member.Restore(ctx, member.Options{Store: st, ID: m.ID, Target: other, MemberID: 2}); err == nil {
		t.Fatal("restore into a database without the tables succeeded")
	}
}

func mustExec(t *testing.T, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
