package readers

import (
	"slices"
	"time"

	netscape "github.com/virtualtam/netscape-go/v2"
)

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
