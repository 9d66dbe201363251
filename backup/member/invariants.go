package member

import (
	"slices"

	"github.com/linkagogo/linkbackup/backup"
)

// The reference schema's invariants (testdata/schema.sql): each returns the ids of the
// rows that break it. Documented in docs/operations.md ("Invariants").
var referenceInvariants = []backup.Invariant{
	{Name: "link_in_foreign_folder",
		SQL: `SELECT l.id FROM public.links l JOIN public.folders f ON f.id = l.folder_id WHERE f.member_id <> l.member_id`},
	{Name: "folder_parent_foreign",
		SQL: `SELECT c.id FROM public.folders c JOIN public.folders p ON p.id = c.parent_id WHERE p.member_id <> c.member_id`},
	// Every folder walks up its parents; one that reaches itself is on a cycle. UNION
	// (not UNION ALL) ends the walk on cycles that do not pass through the start.
	{Name: "folder_cycle",
		SQL: `WITH RECURSIVE up(start, id) AS (
  SELECT f.id, f.parent_id FROM public.folders f WHERE f.parent_id IS NOT NULL
  UNION
  SELECT up.start, f.parent_id FROM up JOIN public.folders f ON f.id = up.id WHERE f.parent_id IS NOT NULL)
SELECT start FROM up WHERE id = start`},
	{Name: "deleted_member_mailed",
		SQL: `SELECT m.id FROM public.members m WHERE m.deleted_at IS NOT NULL AND m.plan = 'premium' AND m.weekly_backup
  AND EXISTS (SELECT 1 FROM public.links l WHERE l.member_id = m.id)`},
}

// ReferenceInvariants returns the invariants of the reference bookmark schema when m is
// a snapshot of it (public.members, public.folders and public.links with the columns the
// checks read), else none. It is the default of the drill's invariants.
func ReferenceInvariants(m *backup.Manifest) []backup.Invariant {
	need := map[string][]string{
		"members": {"id", "plan", "weekly_backup", "deleted_at"},
		"folders": {"id", "member_id", "parent_id"},
		"links":   {"id", "member_id", "folder_id"},
	}
	found := 0
	for _, t := range m.Tables {
		cols, ok := need[t.Name]
		if !ok || t.Schema != "public" {
			continue
		}
		for _, c := range cols {
			if !slices.Contains(t.Columns, c) {
				return nil
			}
		}
		found++
	}
	if found != len(need) {
		return nil
	}
	return slices.Clone(referenceInvariants)
}
