package pgsource_test

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
)

// TestReadMemberEqualsRead: the one-member reader (used by the weekly email) returns
// for every selected member exactly what the streaming Read returns, in any order of
// rows, and nil for a member the member query does not select.
func TestReadMemberEqualsRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, conn, _ := newDB(t)
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember, o.Seed = 40, 25, 11
	o.PremiumPercent, o.OptInPercent, o.Inconsistent = 60, 80, true
	if _, err := bookmarkgen.Generate(ctx, conn, o); err != nil {
		t.Fatal(err)
	}
	var streamed []*pgsource.Rows
	if _, err := pgsource.Read(ctx, conn, pgsource.Options{}, func(r *pgsource.Rows) error {
		streamed = append(streamed, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(streamed) < 5 {
		t.Fatalf("only %d members selected", len(streamed))
	}
	mr := pgsource.NewMemberReader(pgsource.Queries{})
	for _, want := range streamed {
		got, err := mr.ReadMember(ctx, conn, want.Member.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			t.Fatalf("member %d: ReadMember found nothing", want.Member.ID)
		}
		sortRows(got)
		sortRows(want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("member %d differs:\nReadMember %+v\nRead       %+v", want.Member.ID, got, want)
		}
	}
	// A member the query does not select (free plan, or not opted in) reads as nil.
	var other int64
	if err := conn.QueryRow(ctx, `SELECT id FROM members WHERE NOT (plan = 'premium' AND weekly_backup AND deleted_at IS NULL) LIMIT 1`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	if r, err := mr.ReadMember(ctx, conn, other); err != nil || r != nil {
		t.Fatalf("unselected member %d: %+v, %v", other, r, err)
	}
}

func sortRows(r *pgsource.Rows) {
	slices.SortFunc(r.Folders, func(a, b export.Folder) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(r.Links, func(a, b export.Link) int { return cmp.Compare(a.ID, b.ID) })
	for i := range r.Links {
		if len(r.Links[i].Tags) == 0 {
			r.Links[i].Tags = nil
		}
	}
}
