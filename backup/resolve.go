package backup

import (
	"context"
	"sort"
	"strings"
)

// isDateRef: ref is a YYYY-MM-DD snapshot reference.
func isDateRef(ref string) bool { return len(ref) == 10 && ref[4] == '-' && ref[7] == '-' }

// oneDatabase refuses ref when the snapshots it matches come from more than one
// database: "latest" of a store shared by several databases means nothing without one.
func oneDatabase(ctx context.Context, st Store, ids []string, match func(string) bool, ref string) error {
	seen := map[string]bool{}
	for _, id := range ids {
		if !match(id) {
			continue
		}
		m, err := ReadManifest(ctx, st, id)
		if err != nil {
			return err
		}
		seen[m.Database] = true
	}
	if len(seen) < 2 {
		return nil
	}
	dbs := make([]string, 0, len(seen))
	for d := range seen {
		dbs = append(dbs, d)
	}
	sort.Strings(dbs)
	return fixable(FixSnapshotDatabase, "", "%w: snapshot %q is ambiguous: the store holds snapshots of %d databases (%s)",
		ErrRefused, ref, len(dbs), strings.Join(dbs, ", "))
}

// latestOf reads the newest manifest among ids (oldest first) of database ("": the
// newest of any database).
func latestOf(ctx context.Context, st Store, ids []string, database string) (*Manifest, error) {
	if database == "" {
		return ReadManifest(ctx, st, ids[len(ids)-1])
	}
	id, err := ResolveSnapshot(ctx, st, "latest", database)
	if err != nil {
		return nil, err
	}
	return ReadManifest(ctx, st, id)
}
