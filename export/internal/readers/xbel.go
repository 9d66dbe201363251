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
	r := xbelReader{seenIDs: map[string]bool{}}
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
			if err := r.start(tk); err != nil {
				return Doc{}, err
			}
		case xml.CharData:
			r.text.Write(tk)
		case xml.EndElement:
			r.end(tk)
		}
	}
	return r.d, nil
}

// xbelReader is the state of XBEL between tokens.
type xbelReader struct {
	d       Doc
	path    []string
	cur     *Link // the bookmark being read
	text    strings.Builder
	seenIDs map[string]bool
	stack   []string // names of the open elements
}

// parent returns the name of the innermost open element, "" outside the document.
func (r *xbelReader) parent() string {
	if len(r.stack) > 0 {
		return r.stack[len(r.stack)-1]
	}
	return ""
}

// start reads an opening tag.
func (r *xbelReader) start(tk xml.StartElement) error {
	parent := r.parent()
	r.stack = append(r.stack, tk.Name.Local)
	r.text.Reset()
	a := map[string]string{}
	for _, at := range tk.Attr {
		a[at.Name.Local] = at.Value
	}
	if id, ok := a["id"]; ok {
		if r.seenIDs[id] {
			return fmt.Errorf("duplicate id %q", id)
		}
		r.seenIDs[id] = true
	}
	switch tk.Name.Local {
	case "xbel":
		if a["version"] != "1.0" {
			return errors.New("xbel version must be 1.0")
		}
	case "folder":
		add, err := xbelDate(a["added"])
		if err != nil {
			return err
		}
		r.path = append(r.path, "")
		r.d.Folders = append(r.d.Folders, Folder{Added: add, Modified: NoDate})
	case "bookmark":
		l := Link{Path: join(r.path), URL: a["href"], Visited: NoDate}
		var err1, err2, err3 error
		l.Added, err1 = xbelDate(a["added"])
		l.Modified, err2 = xbelDate(a["modified"])
		l.Visited, err3 = xbelDate(a["visited"])
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		if v, ok := a["tags"]; ok {
			l.Tags = strings.Split(v, ",")
			slices.Sort(l.Tags)
		}
		l.Private = a["private"] == "yes"
		l.ReadLater = a["read-later"] == "yes"
		r.d.Links = append(r.d.Links, l)
		r.cur = &r.d.Links[len(r.d.Links)-1]
	case "title", "desc":
		if parent == "" {
			return fmt.Errorf("<%s> outside xbel", tk.Name.Local)
		}
	default:
		return fmt.Errorf("unexpected element <%s>", tk.Name.Local)
	}
	return nil
}

// end reads a closing tag: a title or desc sets the text read since its opening tag.
func (r *xbelReader) end(tk xml.EndElement) {
	r.stack = r.stack[:len(r.stack)-1]
	parent := r.parent()
	switch tk.Name.Local {
	case "folder":
		r.path = r.path[:len(r.path)-1]
	case "bookmark":
		r.cur = nil
	case "title":
		switch parent {
		case "folder":
			r.path[len(r.path)-1] = r.text.String()
			r.d.Folders[len(r.d.Folders)-1].Name = r.text.String()
			r.d.Folders[len(r.d.Folders)-1].Path = join(r.path)
		case "bookmark":
			r.cur.Title = r.text.String()
		}
	case "desc":
		if parent == "bookmark" {
			r.cur.Notes = r.text.String()
		}
	}
}

// xbelDate parses an XBEL timestamp; "" is NoDate.
func xbelDate(v string) (int64, error) {
	if v == "" {
		return NoDate, nil
	}
	t, err := time.Parse("2006-01-02T15:04:05Z", v)
	return t.Unix(), err
}
