package readers

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

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
