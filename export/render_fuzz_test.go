package export_test

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/internal/readers"
)

// fuzzing reports whether this run is `go test -fuzz` (xmllint per input is too slow
// there; the seed corpus is still validated by xmllint in every normal run).
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// FuzzRender renders one member with arbitrary names, titles, URLs, notes and tags
// (a nested folder holding the link, plus a copy at the top level) and reads both
// files back: the HTML must give the same URLs, titles, notes, tags and flags with
// netscape-go and the strict Chromium-rules reader, the XBEL must be well-formed and
// give every link back (xmllint-valid too, outside fuzzing mode).
func FuzzRender(f *testing.F) {
	for i, s := range hostileSeeds {
		f.Add(s, hostileSeeds[(i+3)%len(hostileSeeds)], hostileSeeds[(i+7)%len(hostileSeeds)],
			hostileSeeds[(i+11)%len(hostileSeeds)], hostileSeeds[(i+13)%len(hostileSeeds)], i%2 == 0, int64(1700000000+i))
	}
	f.Fuzz(func(t *testing.T, folder, title, url, notes, tag string, private bool, created int64) {
		created %= 2_000_000_000 // netscape-go reads dates after now+30y as milliseconds
		ct := time.Unix(created, 0)
		folders := []export.Folder{
			{ID: 1, Name: folder, CreatedAt: ct, UpdatedAt: ct},
			{ID: 2, ParentID: 1, Name: title, Position: 1, CreatedAt: ct, UpdatedAt: ct},
		}
		links := []export.Link{
			{ID: 1, FolderID: 2, URL: url, Title: title, Notes: notes, Tags: []string{tag, folder}, Private: private, ReadLater: !private, CreatedAt: ct, UpdatedAt: ct},
			{ID: 2, URL: title, Title: url, Notes: folder, Tags: []string{notes}, Private: !private, CreatedAt: ct, UpdatedAt: ct, VisitedAt: ct},
			{ID: 3, FolderID: 1, URL: "https://example.com/after", Title: "after", CreatedAt: ct, UpdatedAt: ct},
		}
		tree, warns := export.BuildTree(export.Member{ID: 1}, folders, links)
		if len(warns) != 0 {
			t.Fatalf("warnings on consistent data: %+v", warns)
		}
		var h, x bytes.Buffer
		if _, err := export.WriteHTML(&h, tree); err != nil {
			t.Fatal(err)
		}
		if _, err := export.WriteXBEL(&x, tree); err != nil {
			t.Fatal(err)
		}
		wantHTML := readers.SortByPath(readers.Expected(tree, readers.FormatHTML))
		got, err := readers.Chromium(h.Bytes())
		if err != nil {
			t.Fatalf("chromium-like reader: %v\n%s", err, h.Bytes())
		}
		if d := readers.Diff(wantHTML, readers.SortByPath(got)); d != "" {
			t.Fatalf("chromium-like reader:\n%s", d)
		}
		got, err = readers.NetscapeGo(h.Bytes())
		if err != nil {
			t.Fatalf("netscape-go: %v\n%s", err, h.Bytes())
		}
		if d := readers.Diff(wantHTML, got); d != "" {
			t.Fatalf("netscape-go:\n%s\n%s", d, h.Bytes())
		}
		got, err = readers.XBEL(x.Bytes())
		if err != nil {
			t.Fatalf("XBEL not well-formed: %v\n%s", err, x.Bytes())
		}
		if d := readers.Diff(readers.SortByPath(readers.Expected(tree, readers.FormatXBEL)), readers.SortByPath(got)); d != "" {
			t.Fatalf("encoding/xml:\n%s", d)
		}
		if !fuzzing() {
			if err := readers.XMLLint(t, x.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestBuildTreeRandom builds trees from random, badly broken folder graphs (self
// parents, cycles, foreign parents, duplicates) and checks the promises: it ends,
// every folder and every distinct link appears exactly once, and each repair is
// reported.
func TestBuildTreeRandom(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 42))
		nf := r.IntN(40)
		var folders []export.Folder
		for i := 1; i <= nf; i++ {
			var p int64
			switch r.IntN(5) {
			case 0: // top level
			case 1:
				p = int64(100 + r.IntN(10)) // foreign
			default:
				p = int64(1 + r.IntN(nf)) // anyone, itself included
			}
			folders = append(folders, export.Folder{ID: int64(i), ParentID: p, Position: int32(r.IntN(3))})
		}
		if nf > 0 && r.IntN(3) == 0 {
			folders = append(folders, folders[r.IntN(nf)]) // duplicate row
		}
		var links []export.Link
		distinct := map[int64]bool{}
		for i := 1; i <= r.IntN(60); i++ {
			id := int64(1 + r.IntN(50))
			fid := int64(0)
			if nf > 0 && r.IntN(4) > 0 {
				fid = int64(1 + r.IntN(nf+3)) // some dangling
			}
			links = append(links, export.Link{ID: id, FolderID: fid, Position: int32(r.IntN(4))})
			distinct[id] = true
		}
		before := slices.Clone(links)

		tree, warns := export.BuildTree(export.Member{ID: 7}, folders, links)

		if !slices.EqualFunc(before, links, func(a, b export.Link) bool { return a.ID == b.ID && a.FolderID == b.FolderID }) {
			t.Fatalf("seed %d: BuildTree modified its input", seed)
		}
		seenF := map[int64]int{}
		seenL := map[int64]int{}
		var walk func(n *export.Node, depth int)
		walk = func(n *export.Node, depth int) {
			if depth > nf+1 {
				t.Fatalf("seed %d: tree deeper than the number of folders", seed)
			}
			for i := 1; i < len(n.Links); i++ {
				a, b := n.Links[i-1], n.Links[i]
				if a.Row.Position > b.Row.Position || a.Row.Position == b.Row.Position && a.Row.ID >= b.Row.ID {
					t.Fatalf("seed %d: links not ordered by (position, id)", seed)
				}
			}
			for _, l := range n.Links {
				seenL[l.Row.ID]++
			}
			for _, c := range n.Folders {
				seenF[c.Folder.ID]++
				walk(c, depth+1)
			}
		}
		walk(&tree.Root, 0)
		if len(seenF) != nf || tree.Folders != nf {
			t.Fatalf("seed %d: %d folders in tree (Folders=%d), want %d", seed, len(seenF), tree.Folders, nf)
		}
		for id, n := range seenF {
			if n != 1 {
				t.Fatalf("seed %d: folder %d appears %d times", seed, id, n)
			}
		}
		if len(seenL) != len(distinct) || tree.Links != len(distinct) {
			t.Fatalf("seed %d: %d links in tree (Links=%d), want %d", seed, len(seenL), tree.Links, len(distinct))
		}
		for id, n := range seenL {
			if n != 1 {
				t.Fatalf("seed %d: link %d appears %d times", seed, id, n)
			}
		}
		kinds := map[string]bool{}
		for _, w := range warns {
			if kinds[w.Kind] {
				t.Fatalf("seed %d: two warnings of kind %s", seed, w.Kind)
			}
			kinds[w.Kind] = true
			if w.Member != 7 || len(w.IDs) == 0 {
				t.Fatalf("seed %d: warning %+v", seed, w)
			}
		}
		if len(links) != len(distinct) && !kinds[export.WarnDuplicateLink] {
			t.Fatalf("seed %d: duplicate links not reported", seed)
		}
	}
}
