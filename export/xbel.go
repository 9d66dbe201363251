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
// bookmark attributes, so that the document stays valid. private and read-later
// default to "no": a bookmark carries them only when they are "yes" (a validating
// parser reports "no" for the others, any other reader sees no flag; this keeps ~30
// bytes per bookmark out of the file and out of deflate).
const xbelExtension = `<!ENTITY % local.url.att "tags CDATA #IMPLIED private (yes|no) 'no' read-later (yes|no) 'no'">`

const xbelHeader = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE xbel PUBLIC "` + XBELPublicID + `" "` + XBELSystemID + `" [
` + xbelExtension + `
]>
<xbel version="1.0">
<title>` + DocumentTitle + `</title>
`

// WriteXBEL writes t as an XBEL 1.0 document, valid against the XBEL 1.0 DTD plus the
// extension attributes declared in its internal subset: tags (comma-separated), and
// private="yes" and read-later="yes" when set (both are declared with the default
// "no", written only when "yes"). Ids are "f<id>" for folders
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

// xbelFlags writes private and read-later when "yes" (the declared default is "no"),
// the end of the start tag and the start of the title, indexed by private*2 + readLater.
var xbelFlags = [4]string{
	`>` + "\n<title>",
	` read-later="yes">` + "\n<title>",
	` private="yes">` + "\n<title>",
	` private="yes" read-later="yes">` + "\n<title>",
}

func xbelFolder(o *out, n *Node, st *Stats) {
	for _, c := range n.Folders {
		f := &c.Folder
		b := append(o.buf, `<folder id="f`...)
		b = appendInt(b, f.ID)
		b = append(b, '"')
		b = xbelDate(b, &o.dates, ` added="`, f.CreatedAt)
		b = append(b, ">\n<title>"...)
		b = append(b, c.escName...)
		o.buf = append(b, "</title>\n"...)
		st.Folders++
		xbelFolder(o, c, st)
		o.str("</folder>\n")
		o.maybeFlush()
	}
	// The links are appended to a local slice (kept in registers), written back
	// before a flush.
	b := o.buf
	for i := range n.Links {
		l := &n.Links[i]
		r := l.Row
		b = append(b, `<bookmark id="b`...)
		b = appendInt(b, r.ID)
		b = append(b, `" href="`...)
		b = append(b, l.escURL...)
		b = append(b, '"')
		b = xbelDate(b, &o.dates, ` added="`, r.CreatedAt)
		b = xbelDate(b, &o.dates, ` modified="`, r.UpdatedAt)
		b = xbelDate(b, &o.dates, ` visited="`, r.VisitedAt)
		if l.escTags != "" {
			b = append(b, ` tags="`...)
			b = append(b, l.escTags...)
			b = append(b, '"')
		}
		b = append(b, xbelFlags[b2i(r.Private)*2+b2i(r.ReadLater)]...)
		b = append(b, l.escTitle...)
		if l.escNotes == "" {
			b = append(b, "</title>\n</bookmark>\n"...)
		} else {
			b = append(b, "</title>\n<desc>"...)
			b = append(b, l.escNotes...)
			b = append(b, "</desc>\n</bookmark>\n"...)
		}
		st.Links++
		if len(b) >= flushAt {
			o.buf = b
			o.flush()
			b = o.buf
		}
	}
	o.buf = b
}

// xbelDate appends attr (` name="`) and t when t is a date W3C-DTF can express.
func xbelDate(b []byte, c *w3cCache, attr string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	if u := t.Unix(); u < minW3C || u > maxW3C { // years 0001..9999
		return b
	}
	b = append(b, attr...)
	b = c.append(b, t)
	return append(b, '"')
}

// Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const (
	minW3C = -62135596800
	maxW3C = 253402300799
)
