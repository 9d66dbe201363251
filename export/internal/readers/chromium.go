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
