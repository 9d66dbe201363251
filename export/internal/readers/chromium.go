package readers

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

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
	for i, h := range chromiumHeader {
		if i >= len(lines) || lines[i] != h {
			return Doc{}, fmt.Errorf("line %d: want %q", i+1, h)
		}
	}
	var r chromiumReader
	for i := len(chromiumHeader); i < len(lines); i++ {
		line := lines[i]
		if err := r.line(line, i == len(lines)-1); err != nil {
			return Doc{}, fmt.Errorf("line %d %q: %w", i+1, line, err)
		}
	}
	if r.depth != 0 {
		return Doc{}, fmt.Errorf("unbalanced <DL>: depth %d at end", r.depth)
	}
	return r.d, nil
}

// chromiumHeader are the lines a file must start with.
var chromiumHeader = []string{
	"<!DOCTYPE NETSCAPE-Bookmark-file-1>",
	`<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">`,
}

// chromiumReader is the state of Chromium between lines.
type chromiumReader struct {
	d             Doc
	path          []string
	depth         int
	inNote        *Link // the bookmark a <DD> line or a continuation line belongs to
	pendingFolder bool  // a folder line was read: <DL><p> must follow
}

// line reads one line after the header; last is set for the file's last line.
func (r *chromiumReader) line(line string, last bool) error {
	if r.pendingFolder && line != "<DL><p>" {
		return errors.New("a folder line must be followed by <DL><p>")
	}
	switch {
	case strings.HasPrefix(line, "<TITLE>"), strings.HasPrefix(line, "<H1>"):
		r.inNote = nil
	case line == "<DL><p>":
		r.inNote = nil
		if !r.pendingFolder && r.depth > 0 {
			return errors.New("<DL> without folder")
		}
		r.pendingFolder = false
		r.depth++
	case line == "</DL><p>":
		r.inNote = nil
		r.depth--
		if r.depth < 0 {
			return errors.New("unbalanced </DL>")
		}
		if r.depth > 0 {
			r.path = r.path[:len(r.path)-1]
		}
	case strings.HasPrefix(line, "<DT><H3"):
		r.inNote = nil
		return r.folder(line)
	case strings.HasPrefix(line, "<DT><A "):
		r.inNote = nil
		return r.bookmark(line)
	case strings.HasPrefix(line, "<DD>"):
		if r.inNote == nil {
			return errors.New("<DD> not after a bookmark")
		}
		if strings.ContainsAny(line[4:], "<>") {
			return errors.New("raw < or > in notes")
		}
		r.inNote.Notes = unescape5(line[4:])
	case r.inNote != nil && r.inNote.Notes != "":
		if strings.ContainsAny(line, "<>") {
			return errors.New("raw < or > in notes")
		}
		r.inNote.Notes += "\n" + unescape5(line)
	case line == "" && last:
	default:
		return errors.New("line not understood by a line-based importer")
	}
	return nil
}

// folder reads a <DT><H3 ...>name</H3> line.
func (r *chromiumReader) folder(line string) error {
	end := strings.Index(line[len("<DT><H3"):], ">") + len("<DT><H3")
	if !strings.HasSuffix(line, "</H3>") || end < len("<DT><H3") {
		return errors.New("folder line must end with </H3>")
	}
	m, err := chromiumAttrs(line[len("<DT><H3"):end])
	if err != nil {
		return err
	}
	name := line[end+1 : len(line)-len("</H3>")]
	if strings.ContainsAny(name, "<>") {
		return errors.New("raw < or > in folder name")
	}
	r.path = append(r.path, unescape5(name))
	add, err1 := chromiumDate(m, "ADD_DATE")
	mod, err2 := chromiumDate(m, "LAST_MODIFIED")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	r.d.Folders = append(r.d.Folders, Folder{Name: r.path[len(r.path)-1], Path: join(r.path), Added: add, Modified: mod})
	r.pendingFolder = true
	return nil
}

// bookmark reads a <DT><A ...>title</A> line.
func (r *chromiumReader) bookmark(line string) error {
	end := strings.Index(line[len("<DT><A"):], ">") + len("<DT><A")
	if !strings.HasSuffix(line, "</A>") || end < len("<DT><A") {
		return errors.New("bookmark line must end with </A>")
	}
	m, err := chromiumAttrs(line[len("<DT><A"):end])
	if err != nil {
		return err
	}
	title := line[end+1 : len(line)-len("</A>")]
	if strings.ContainsAny(title, "<>") {
		return errors.New("raw < or > in title")
	}
	href, ok := m["HREF"]
	if !ok {
		return errors.New("no HREF")
	}
	add, err1 := chromiumDate(m, "ADD_DATE")
	mod, err2 := chromiumDate(m, "LAST_MODIFIED")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	var tags []string
	if v, ok := m["TAGS"]; ok {
		tags = strings.Split(v, ",")
		slices.Sort(tags)
	}
	if m["PRIVATE"] != "0" && m["PRIVATE"] != "1" || m["TOREAD"] != "0" && m["TOREAD"] != "1" {
		return errors.New(`PRIVATE and TOREAD must be "0" or "1"`)
	}
	r.d.Links = append(r.d.Links, Link{Path: join(r.path), URL: href, Title: unescape5(title), Tags: tags,
		Added: add, Modified: mod, Visited: NoDate, Private: m["PRIVATE"] == "1", ReadLater: m["TOREAD"] == "1"})
	r.inNote = &r.d.Links[len(r.d.Links)-1]
	return nil
}

// chromiumAttrs parses ` NAME="value"` attributes; anything else left over is an error.
func chromiumAttrs(s string) (map[string]string, error) {
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

// chromiumDate returns the Unix time in attribute k, NoDate when it is absent.
func chromiumDate(m map[string]string, k string) (int64, error) {
	v, ok := m[k]
	if !ok {
		return NoDate, nil
	}
	return strconv.ParseInt(v, 10, 64)
}
