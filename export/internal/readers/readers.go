// Package readers reads exported files back for tests, with readers the export did not
// write: github.com/virtualtam/netscape-go/v2 (v2.2.0) and a strict line-based reader
// following Chromium's importer rules for the HTML, encoding/xml and xmllint (validation
// against a DTD written from the XBEL 1.0 spec) for the XBEL. Each reader returns a Doc,
// the flat content every format must agree on; Expected computes the Doc a tree must
// produce.
package readers

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	netscape "github.com/virtualtam/netscape-go/v2"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/internal/testenv"
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

// NetscapeGo parses html with netscape-go v2.2.0 (Unmarshal: parser and decoder).
// netscape-go reads a missing LAST_MODIFIED as ADD_DATE; dates are compared as is.
func NetscapeGo(html []byte) (Doc, error) {
	doc, err := netscape.Unmarshal(html)
	if err != nil {
		return Doc{}, err
	}
	var d Doc
	date := func(t time.Time) int64 {
		if t.IsZero() {
			return NoDate
		}
		return t.Unix()
	}
	var walk func(f *netscape.Folder, path []string)
	walk = func(f *netscape.Folder, path []string) {
		for _, b := range f.Bookmarks {
			tags := slices.Clone(b.Tags)
			if len(tags) == 0 {
				tags = nil
			}
			slices.Sort(tags)
			d.Links = append(d.Links, Link{Path: join(path), URL: b.URL, Title: b.Title, Notes: b.Description,
				Tags: tags, Added: date(b.CreatedAt), Modified: date(b.UpdatedAt), Visited: NoDate,
				Private: b.Private, ReadLater: b.Attributes["TOREAD"] == "1"})
		}
		for i := range f.Subfolders {
			s := &f.Subfolders[i]
			p := append(slices.Clip(path), s.Name)
			d.Folders = append(d.Folders, Folder{Name: s.Name, Path: join(p), Added: date(s.CreatedAt), Modified: date(s.UpdatedAt)})
			walk(s, p)
		}
	}
	walk(&doc.Root, nil)
	// netscape-go lists a folder's bookmarks before its subfolders; the export writes
	// subfolders first. Order both the same way: folders by document order, links by
	// path then document order.
	sortByPath(&d)
	return d, nil
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

var (
	attrRe  = regexp.MustCompile(` ([A-Z_]+)="([^"]*)"`)
	entRe   = regexp.MustCompile(`&(amp|lt|gt|quot|#39);`)
	entRepl = map[string]string{"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": `"`, "&#39;": "'"}
)

// unescape5 decodes exactly the five references Chromium's importer decodes.
func unescape5(s string) string {
	return entRe.ReplaceAllStringFunc(s, func(m string) string { return entRepl[m] })
}

// Chromium reads html the way Chromium's line-based importer does, strictly: every line
// must be one the importer understands (header, <DL><p>, </DL><p>, one <DT><H3> folder,
// one <DT><A> bookmark, a <DD> line and its continuation lines); tags and attributes
// are upper case and double-quoted; only five entities are decoded. Any other line is
// an error (Chromium would silently lose the item).
func Chromium(html []byte) (Doc, error) {
	lines := strings.Split(string(html), "\n")
	header := []string{
		"<!DOCTYPE NETSCAPE-Bookmark-file-1>",
		`<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">`,
	}
	for i, h := range header {
		if i >= len(lines) || lines[i] != h {
			return Doc{}, fmt.Errorf("line %d: want %q", i+1, h)
		}
	}
	var d Doc
	var path []string
	depth := 0
	var inNote *Link
	attrs := func(s string) (map[string]string, error) {
		m := map[string]string{}
		rest := attrRe.ReplaceAllStringFunc(s, func(a string) string {
			sm := attrRe.FindStringSubmatch(a)
			m[sm[1]] = unescape5(sm[2])
			return ""
		})
		if rest != "" {
			return nil, fmt.Errorf("unparsable attributes %q", rest)
		}
		return m, nil
	}
	date := func(m map[string]string, k string) (int64, error) {
		v, ok := m[k]
		if !ok {
			return NoDate, nil
		}
		return strconv.ParseInt(v, 10, 64)
	}
	pendingFolder := false
	for i := len(header); i < len(lines); i++ {
		line := lines[i]
		lineErr := func(err error) error { return fmt.Errorf("line %d %q: %w", i+1, line, err) }
		if pendingFolder && line != "<DL><p>" {
			return Doc{}, lineErr(errors.New("a folder line must be followed by <DL><p>"))
		}
		switch {
		case strings.HasPrefix(line, "<TITLE>"), strings.HasPrefix(line, "<H1>"):
			inNote = nil
		case line == "<DL><p>":
			inNote = nil
			if !pendingFolder && depth > 0 {
				return Doc{}, lineErr(errors.New("<DL> without folder"))
			}
			pendingFolder = false
			depth++
		case line == "</DL><p>":
			inNote = nil
			depth--
			if depth < 0 {
				return Doc{}, lineErr(errors.New("unbalanced </DL>"))
			}
			if depth > 0 {
				path = path[:len(path)-1]
			}
		case strings.HasPrefix(line, "<DT><H3"):
			inNote = nil
			end := strings.Index(line[len("<DT><H3"):], ">") + len("<DT><H3")
			if !strings.HasSuffix(line, "</H3>") || end < len("<DT><H3") {
				return Doc{}, lineErr(errors.New("folder line must end with </H3>"))
			}
			m, err := attrs(line[len("<DT><H3"):end])
			if err != nil {
				return Doc{}, lineErr(err)
			}
			name := line[end+1 : len(line)-len("</H3>")]
			if strings.ContainsAny(name, "<>") {
				return Doc{}, lineErr(errors.New("raw < or > in folder name"))
			}
			path = append(path, unescape5(name))
			add, err1 := date(m, "ADD_DATE")
			mod, err2 := date(m, "LAST_MODIFIED")
			if err := errors.Join(err1, err2); err != nil {
				return Doc{}, lineErr(err)
			}
			d.Folders = append(d.Folders, Folder{Name: path[len(path)-1], Path: join(path), Added: add, Modified: mod})
			pendingFolder = true
		case strings.HasPrefix(line, "<DT><A "):
			inNote = nil
			end := strings.Index(line[len("<DT><A"):], ">") + len("<DT><A")
			if !strings.HasSuffix(line, "</A>") || end < len("<DT><A") {
				return Doc{}, lineErr(errors.New("bookmark line must end with </A>"))
			}
			m, err := attrs(line[len("<DT><A"):end])
			if err != nil {
				return Doc{}, lineErr(err)
			}
			title := line[end+1 : len(line)-len("</A>")]
			if strings.ContainsAny(title, "<>") {
				return Doc{}, lineErr(errors.New("raw < or > in title"))
			}
			href, ok := m["HREF"]
			if !ok {
				return Doc{}, lineErr(errors.New("no HREF"))
			}
			add, err1 := date(m, "ADD_DATE")
			mod, err2 := date(m, "LAST_MODIFIED")
			if err := errors.Join(err1, err2); err != nil {
				return Doc{}, lineErr(err)
			}
			var tags []string
			if v, ok := m["TAGS"]; ok {
				tags = strings.Split(v, ",")
				slices.Sort(tags)
			}
			if m["PRIVATE"] != "0" && m["PRIVATE"] != "1" || m["TOREAD"] != "0" && m["TOREAD"] != "1" {
				return Doc{}, lineErr(errors.New(`PRIVATE and TOREAD must be "0" or "1"`))
			}
			d.Links = append(d.Links, Link{Path: join(path), URL: href, Title: unescape5(title), Tags: tags,
				Added: add, Modified: mod, Visited: NoDate, Private: m["PRIVATE"] == "1", ReadLater: m["TOREAD"] == "1"})
			inNote = &d.Links[len(d.Links)-1]
		case strings.HasPrefix(line, "<DD>"):
			if inNote == nil {
				return Doc{}, lineErr(errors.New("<DD> not after a bookmark"))
			}
			if strings.ContainsAny(line[4:], "<>") {
				return Doc{}, lineErr(errors.New("raw < or > in notes"))
			}
			inNote.Notes = unescape5(line[4:])
		case inNote != nil && inNote.Notes != "":
			if strings.ContainsAny(line, "<>") {
				return Doc{}, lineErr(errors.New("raw < or > in notes"))
			}
			inNote.Notes += "\n" + unescape5(line)
		case line == "" && i == len(lines)-1:
		default:
			return Doc{}, lineErr(errors.New("line not understood by a line-based importer"))
		}
	}
	if depth != 0 {
		return Doc{}, fmt.Errorf("unbalanced <DL>: depth %d at end", depth)
	}
	return d, nil
}

// XBEL reads an XBEL document with encoding/xml in strict mode (well-formedness) and
// returns its content; unknown elements or attributes are errors.
func XBEL(data []byte) (Doc, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var d Doc
	var path []string
	var cur *Link
	var text strings.Builder
	seenIDs := map[string]bool{}
	date := func(v string) (int64, error) {
		if v == "" {
			return NoDate, nil
		}
		t, err := time.Parse("2006-01-02T15:04:05Z", v)
		return t.Unix(), err
	}
	var stack []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Doc{}, err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			stack = append(stack, tk.Name.Local)
			text.Reset()
			a := map[string]string{}
			for _, at := range tk.Attr {
				a[at.Name.Local] = at.Value
			}
			if id, ok := a["id"]; ok {
				if seenIDs[id] {
					return Doc{}, fmt.Errorf("duplicate id %q", id)
				}
				seenIDs[id] = true
			}
			switch tk.Name.Local {
			case "xbel":
				if a["version"] != "1.0" {
					return Doc{}, errors.New("xbel version must be 1.0")
				}
			case "folder":
				add, err := date(a["added"])
				if err != nil {
					return Doc{}, err
				}
				path = append(path, "")
				d.Folders = append(d.Folders, Folder{Added: add, Modified: NoDate})
			case "bookmark":
				l := Link{Path: join(path), URL: a["href"], Visited: NoDate}
				var err1, err2, err3 error
				l.Added, err1 = date(a["added"])
				l.Modified, err2 = date(a["modified"])
				l.Visited, err3 = date(a["visited"])
				if err := errors.Join(err1, err2, err3); err != nil {
					return Doc{}, err
				}
				if v, ok := a["tags"]; ok {
					l.Tags = strings.Split(v, ",")
					slices.Sort(l.Tags)
				}
				l.Private = a["private"] == "yes"
				l.ReadLater = a["read-later"] == "yes"
				d.Links = append(d.Links, l)
				cur = &d.Links[len(d.Links)-1]
			case "title", "desc":
				if parent == "" {
					return Doc{}, fmt.Errorf("<%s> outside xbel", tk.Name.Local)
				}
			default:
				return Doc{}, fmt.Errorf("unexpected element <%s>", tk.Name.Local)
			}
		case xml.CharData:
			text.Write(tk)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			switch tk.Name.Local {
			case "folder":
				path = path[:len(path)-1]
			case "bookmark":
				cur = nil
			case "title":
				switch parent {
				case "folder":
					path[len(path)-1] = text.String()
					d.Folders[len(d.Folders)-1].Name = text.String()
					d.Folders[len(d.Folders)-1].Path = join(path)
				case "bookmark":
					cur.Title = text.String()
				}
			case "desc":
				if parent == "bookmark" {
					cur.Notes = text.String()
				}
			}
		}
	}
	return d, nil
}

// DTDDir returns the directory of the test DTD and catalog (testdata/export/xbel-dtd).
func DTDDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "export", "xbel-dtd")
}

// XMLLint validates data with `xmllint --valid --noout --nonet`, the XBEL DTD found
// through the test catalog. A missing xmllint fails the test under `make test`
// (LINKBACKUP_TEST_REQUIRE=1) and skips it otherwise.
func XMLLint(t testing.TB, data []byte) error {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("xmllint not found (%v): install Debian's libxml2-utils (apt-get install -y libxml2-utils)", err)
		}
		t.Skip("xmllint not found: apt-get install -y libxml2-utils, or run `make test`")
	}
	f := filepath.Join(t.TempDir(), "bookmarks.xbel")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--valid", "--noout", "--nonet", f)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+filepath.Join(DTDDir(), "catalog.xml"))
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		return fmt.Errorf("xmllint --valid: %v\n%s", err, out)
	}
	return nil
}
