package member_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	linkbackup "github.com/linkagogo/linkbackup"
	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/member"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/invariants/")

// A small hand-made bookmark database: members 1 and 2 (premium, mailed), 3 (deleted,
// not mailed); folders 10 > 11 > 12 of member 1, folder 20 of member 2; links 100, 101
// of member 1 (in 11 and 12), 200 of member 2 (in 20), 300 of member 3 (top level).
const fixture = `
INSERT INTO members (id, email, display_name, plan, weekly_backup, deleted_at) VALUES
  (1, 'a@example.test', 'A', 'premium', true, NULL),
  (2, 'b@example.test', 'B', 'premium', true, NULL),
  (3, 'c@example.test', 'C', 'premium', false, now());
INSERT INTO folders (id, member_id, parent_id, name) VALUES
  (10, 1, NULL, 'top'), (11, 1, 10, 'mid'), (12, 1, 11, 'low'), (20, 2, NULL, 'theirs');
INSERT INTO links (id, member_id, folder_id, url, title) VALUES
  (100, 1, 11, 'https://a.example/private-title', 'secret title of member 1'),
  (101, 1, 12, 'https://a.example/2', ''),
  (200, 2, 20, 'https://b.example/', ''),
  (300, 3, NULL, 'https://c.example/', '');`

// TestReferenceInvariants: each reference invariant holds on the clean fixture and
// catches its own violation; the output (golden files in testdata/invariants) names the
// check and the row ids and never a row's content.
func TestReferenceInvariants(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, breakIt string }{
		{"clean", ""},
		{"link_in_foreign_folder", "UPDATE links SET folder_id = 20 WHERE id = 100"},
		{"folder_parent_foreign", "UPDATE folders SET parent_id = 20 WHERE id = 11"},
		{"folder_cycle", "UPDATE folders SET parent_id = 12 WHERE id = 10"},
		{"deleted_member_mailed", "UPDATE members SET deleted_at = '2026-11-30', weekly_backup = true WHERE id = 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dsn := testenv.NewDatabase(t, testenv.PrimaryDSN(t))
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			for _, sql := range []string{linkbackup.BookmarkSchema, fixture, c.breakIt} {
				if _, err := conn.Exec(ctx, sql); err != nil {
					t.Fatalf("%.60s: %v", sql, err)
				}
			}
			rs, err := backup.CheckDatabase(ctx, dsn, backup.DrillOptions{Defaults: member.ReferenceInvariants}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, r := range rs {
				fmt.Fprintf(&b, "%-8s %s\n", r.Level, r)
				if r.Name != c.name && r.Level != backup.InvariantOK {
					t.Errorf("%s broke %s too: %s", c.name, r.Name, r)
				}
				if r.Name == c.name && r.Level == backup.InvariantOK {
					t.Errorf("%s not caught", c.name)
				}
			}
			got := b.String()
			if strings.Contains(got, "secret title") || strings.Contains(got, "example") {
				t.Fatalf("row content in the output:\n%s", got)
			}
			golden := filepath.Join("..", "..", "testdata", "invariants", c.name+".txt")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestReferenceInvariantsNeedTheSchema: another schema gets no default checks.
func TestReferenceInvariantsNeedTheSchema(t *testing.T) {
	m := &backup.Manifest{Tables: []backup.Table{{Schema: "public", Name: "links", Columns: []string{"id", "member_id", "folder_id"}}}}
	if got := member.ReferenceInvariants(m); got != nil {
		t.Fatalf("defaults for a schema without members and folders: %v", got)
	}
}
