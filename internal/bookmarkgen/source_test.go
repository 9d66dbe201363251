package bookmarkgen

import (
	"fmt"
	"testing"
)

// rowsOf renders every row the sources produce for members lo..hi, split into batches of
// step members, the way Generate splits them.
func rowsOf(t *testing.T, opts Options, step int64, newSrc func(lo, hi int64) source) []string {
	t.Helper()
	var out []string
	for lo := int64(1); lo <= int64(opts.Members); lo += step {
		src := newSrc(lo, min(lo+step-1, int64(opts.Members)))
		for src.Next() {
			v, err := src.Values()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(v...))
		}
	}
	return out
}

// TestBatchingDoesNotChangeRows: rows and ids do not depend on where batches split.
func TestBatchingDoesNotChangeRows(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.Members, opts.LinksPerMember = 300, 7 // members 97, 194, 291 have no links
	for name, newSrc := range map[string]func(Options) func(lo, hi int64) source{
		"members": func(o Options) func(lo, hi int64) source {
			return func(lo, hi int64) source { return newMemberSource(o, lo, hi) }
		},
		"folders": func(o Options) func(lo, hi int64) source {
			return func(lo, hi int64) source { return newFolderSource(o, lo, hi) }
		},
		"links": func(o Options) func(lo, hi int64) source {
			return func(lo, hi int64) source { return newLinkSource(o, lo, hi) }
		},
	} {
		whole := rowsOf(t, opts, int64(opts.Members), newSrc(opts))
		for _, step := range []int64{1, 7, 97, 100} {
			split := rowsOf(t, opts, step, newSrc(opts))
			if len(split) != len(whole) {
				t.Fatalf("%s step %d: %d rows, want %d", name, step, len(split), len(whole))
			}
			for i := range whole {
				if split[i] != whole[i] {
					t.Fatalf("%s step %d: row %d differs:\n%.200s\n%.200s", name, step, i, split[i], whole[i])
				}
			}
		}
	}
	links := rowsOf(t, opts, 300, func(lo, hi int64) source { return newLinkSource(opts, lo, hi) })
	if len(links) != (300-3)*7 {
		t.Fatalf("%d links, want %d", len(links), (300-3)*7)
	}
}
