// Package readers reads exported files back for tests, with readers the export did not
// write: github.com/virtualtam/netscape-go/v2 (v2.2.0) and a strict line-based reader
// following Chromium's importer rules for the HTML, encoding/xml and xmllint (validation
// against a DTD written from the XBEL 1.0 spec) for the XBEL. Each reader returns a Doc,
// the flat content every format must agree on; Expected computes the Doc a tree must
// produce.
package readers

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/export"
)

// NoDate marks a date that is absent from the file.
const NoDate = math.MinInt64

// Doc is the content of an exported file, flattened in document order.
type Doc struct {
	Folders []Folder
	Links   []Link
}

// Folder is a folder and the names of the folders above it.
type Folder struct {
	Name            string
	Path            string // names from the top, joined with " / "
	Added, Modified int64
}

// Link is a bookmark with the path of its folder ("" at the top level).
type Link struct {
	Path                     string
	URL, Title, Notes        string
	Tags                     []string // sorted
	Added, Modified, Visited int64
	Private, ReadLater       bool
}

func join(path []string) string { return strings.Join(path, " / ") }

// Format selects what Expected predicts.
type Format int

const (
	FormatHTML Format = iota // javascript:/vbscript:/data: links left out, no visited date
	FormatXBEL               // every link; dates outside years 1..9999 left out
)

// Expected returns the Doc that rendering t in format f must produce, computed from the
// tree with the package's documented cleaning rules.
func Expected(t *export.Tree, f Format) Doc {
	var d Doc
	date := func(tm time.Time) int64 {
		if tm.IsZero() {
			return NoDate
		}
		if y := tm.UTC().Year(); f == FormatXBEL && (y < 1 || y > 9999) {
			return NoDate
		}
		return tm.Unix()
	}
	var walk func(n *export.Node, path []string)
	walk = func(n *export.Node, path []string) {
		for _, c := range n.Folders {
			name := export.CleanTitle(c.Folder.Name)
			if name == "" {
				name = export.UntitledFolder
			}
			p := append(slices.Clip(path), name)
			mod := date(c.Folder.UpdatedAt)
			if f == FormatXBEL {
				mod = NoDate // XBEL 1.0 folders have no modified attribute
			}
			d.Folders = append(d.Folders, Folder{Name: name, Path: join(p), Added: date(c.Folder.CreatedAt), Modified: mod})
			walk(c, p)
		}
		for _, l := range n.Links {
			if f == FormatHTML && l.Unsafe {
				continue
			}
			url := export.CleanURL(l.URL)
			title := export.CleanTitle(l.Title)
			if title == "" {
				title = url
			}
			var tags []string
			for _, tg := range l.Tags {
				if tg = export.CleanTag(tg); tg != "" {
					tags = append(tags, tg)
				}
			}
			slices.Sort(tags)
			visited := date(l.Row.VisitedAt)
			if f == FormatHTML {
				visited = NoDate
			}
			d.Links = append(d.Links, Link{Path: join(path), URL: url, Title: title, Notes: export.CleanNotes(l.Notes),
				Tags: tags, Added: date(l.Row.CreatedAt), Modified: date(l.Row.UpdatedAt), Visited: visited,
				Private: l.Row.Private, ReadLater: l.Row.ReadLater})
		}
	}
	walk(&t.Root, nil)
	return d
}

// Diff returns a readable description of the first differences between want and got,
// or "" when they are equal.
func Diff(want, got Doc) string {
	var b strings.Builder
	if len(want.Folders) != len(got.Folders) {
		fmt.Fprintf(&b, "folders: want %d, got %d\n", len(want.Folders), len(got.Folders))
	}
	for i := 0; i < min(len(want.Folders), len(got.Folders)); i++ {
		if want.Folders[i] != got.Folders[i] {
			fmt.Fprintf(&b, "folder %d:\n want %+v\n got  %+v\n", i, want.Folders[i], got.Folders[i])
		}
	}
	if len(want.Links) != len(got.Links) {
		fmt.Fprintf(&b, "links: want %d, got %d\n", len(want.Links), len(got.Links))
	}
	n := 0
	for i := 0; i < min(len(want.Links), len(got.Links)) && n < 5; i++ {
		w, g := want.Links[i], got.Links[i]
		if !slices.Equal(w.Tags, g.Tags) || w.Path != g.Path || w.URL != g.URL || w.Title != g.Title || w.Notes != g.Notes ||
			w.Added != g.Added || w.Modified != g.Modified || w.Visited != g.Visited || w.Private != g.Private || w.ReadLater != g.ReadLater {
			fmt.Fprintf(&b, "link %d:\n want %q\n got  %q\n", i, fmt.Sprintf("%+v", w), fmt.Sprintf("%+v", g))
			n++
		}
	}
	return b.String()
}

// sortByPath puts links in a stable order that does not depend on whether a format
// lists subfolders or links first: grouped by folder in folder order.
func sortByPath(d *Doc) {
	rank := map[string]int{"": -1}
	for i, f := range d.Folders {
		if _, ok := rank[f.Path]; !ok {
			rank[f.Path] = i
		}
	}
	slices.SortStableFunc(d.Links, func(a, b Link) int { return rank[a.Path] - rank[b.Path] })
}

// SortByPath is sortByPath for Docs from Expected and the other readers.
func SortByPath(d Doc) Doc {
	d.Links = slices.Clone(d.Links)
	sortByPath(&d)
	return d
}
