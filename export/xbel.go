package export

import (
	"io"
	"time"
)

// XBELPublicID and XBELSystemID name the XBEL 1.0 DTD in the DOCTYPE.
const (
	XBELPublicID = "+//IDN python.org//DTD XML Bookmark Exchange Language 1.0//EN//XML"
	XBELSystemID = "http://www.python.org/topics/xml/dtds/xbel-1.0.dtd"
)

// xbelExtension declares the attributes XBEL 1.0 lacks through the DTD's own hook for
// bookmark attributes, so that the document stays valid.
const xbelExtension = `<!ENTITY % local.url.att "tags CDATA #IMPLIED private (yes|no) #IMPLIED read-later (yes|no) #IMPLIED">`

const xbelHeader = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE xbel PUBLIC "` + XBELPublicID + `" "` + XBELSystemID + `" [
` + xbelExtension + `
]>
<xbel version="1.0">
<title>` + DocumentTitle + `</title>
`

// WriteXBEL writes t as an XBEL 1.0 document, valid against the XBEL 1.0 DTD plus the
// extension attributes declared in its internal subset: tags (comma-separated),
// private and read-later ("yes"/"no") on every bookmark. Ids are "f<id>" for folders
// and "b<id>" for bookmarks; added/modified/visited are W3C-DTF in UTC to the second
// (left out when zero or outside years 0001-9999); notes go to <desc>. Every link is
// written, javascript:, vbscript: and data: URLs included.
func WriteXBEL(w io.Writer, t *Tree) (Stats, error) {
	o := newOut(w)
	var st Stats
	o.str(xbelHeader)
	xbelFolder(o, &t.Root, &st)
	o.str("</xbel>\n")
	n, err := o.close()
	st.Bytes = n
	return st, err
}

func xbelFolder(o *out, n *Node, st *Stats) {
	for _, c := range n.Folders {
		f := &c.Folder
		o.str(`<folder id="f`)
		o.int(f.ID)
		o.str(`"`)
		xbelDate(o, ` added="`, f.CreatedAt)
		o.str(">\n<title>")
		o.str(c.escName)
		o.str("</title>\n")
		st.Folders++
		xbelFolder(o, c, st)
		o.str("</folder>\n")
		o.maybeFlush()
	}
	for i := range n.Links {
		l := &n.Links[i]
		r := l.Row
		o.str(`<bookmark id="b`)
		o.int(r.ID)
		o.str(`" href="`)
		o.str(l.escURL)
		o.str(`"`)
		xbelDate(o, ` added="`, r.CreatedAt)
		xbelDate(o, ` modified="`, r.UpdatedAt)
		xbelDate(o, ` visited="`, r.VisitedAt)
		if len(l.Tags) > 0 {
			o.str(` tags="`)
			o.tags(l.Tags)
			o.str(`"`)
		}
		o.str(` private="`)
		o.yesno(r.Private)
		o.str(`" read-later="`)
		o.yesno(r.ReadLater)
		o.str("\">\n<title>")
		o.str(l.escTitle)
		o.str("</title>\n")
		if l.Notes != "" {
			o.str("<desc>")
			o.str(l.escNotes)
			o.str("</desc>\n")
		}
		o.str("</bookmark>\n")
		st.Links++
		o.maybeFlush()
	}
}

// xbelDate writes attr (` name="`) and t when t is a date W3C-DTF can express.
func xbelDate(o *out, attr string, t time.Time) {
	if t.IsZero() {
		return
	}
	if u := t.Unix(); u < minW3C || u > maxW3C { // years 0001..9999
		return
	}
	o.str(attr)
	o.w3c(t)
	o.str(`"`)
}

// Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const (
	minW3C = -62135596800
	maxW3C = 253402300799
)
