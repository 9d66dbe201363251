package export

import (
	"io"
	"time"
)

const htmlHeader = `<!DOCTYPE NETSCAPE-Bookmark-file-1>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>` + DocumentTitle + `</TITLE>
<H1>` + DocumentTitle + `</H1>
<DL><p>
`

// WriteHTML writes t as a Netscape bookmark file (the browser-import profile):
// one item per line, upper-case tags and attributes, never a closing </DT>, no
// indentation, exactly five entities, dates as Unix seconds. Links with a
// javascript:, vbscript: or data: URL are left out (counted in Stats.OmittedHTML).
func WriteHTML(w io.Writer, t *Tree) (Stats, error) {
	o := newOut(w)
	var st Stats
	o.str(htmlHeader)
	htmlFolder(o, &t.Root, &st)
	o.str("</DL><p>\n")
	n, err := o.close()
	st.Bytes = n
	return st, err
}

// htmlFlags closes the attribute before it and writes PRIVATE, TOREAD and the end of
// the start tag, indexed by private*2 + toread.
var htmlFlags = [4]string{
	`" PRIVATE="0" TOREAD="0">`,
	`" PRIVATE="0" TOREAD="1">`,
	`" PRIVATE="1" TOREAD="0">`,
	`" PRIVATE="1" TOREAD="1">`,
}

func htmlFolder(o *out, n *Node, st *Stats) {
	for _, c := range n.Folders {
		f := &c.Folder
		b := append(o.buf, "<DT><H3"...)
		b = htmlFolderDates(b, f.CreatedAt, f.UpdatedAt)
		b = append(b, '>')
		b = append(b, c.escName...)
		o.buf = append(b, "</H3>\n<DL><p>\n"...)
		st.Folders++
		htmlFolder(o, c, st)
		o.str("</DL><p>\n")
		o.maybeFlush()
	}
	// The links are appended to a local slice (kept in registers), written back
	// before a flush.
	b := o.buf
	for i := range n.Links {
		l := &n.Links[i]
		if l.Unsafe {
			st.OmittedHTML++
			continue
		}
		r := l.Row
		b = append(b, `<DT><A HREF="`...)
		b = append(b, l.escURL...)
		if !r.CreatedAt.IsZero() {
			b = append(b, `" ADD_DATE="`...)
			b = appendInt(b, r.CreatedAt.Unix())
		}
		if !r.UpdatedAt.IsZero() {
			b = append(b, `" LAST_MODIFIED="`...)
			b = appendInt(b, r.UpdatedAt.Unix())
		}
		if l.escTags != "" {
			b = append(b, `" TAGS="`...)
			b = append(b, l.escTags...)
		}
		b = append(b, htmlFlags[b2i(r.Private)*2+b2i(r.ReadLater)]...)
		b = append(b, l.escTitle...)
		if l.escNotes == "" {
			b = append(b, "</A>\n"...)
		} else {
			b = append(b, "</A>\n<DD>"...)
			b = append(b, l.escNotes...)
			b = append(b, '\n')
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

// htmlFolderDates writes the ADD_DATE and LAST_MODIFIED attributes of a folder.
func htmlFolderDates(b []byte, add, mod time.Time) []byte {
	if !add.IsZero() {
		b = append(b, ` ADD_DATE="`...)
		b = appendInt(b, add.Unix())
		b = append(b, '"')
	}
	if !mod.IsZero() {
		b = append(b, ` LAST_MODIFIED="`...)
		b = appendInt(b, mod.Unix())
		b = append(b, '"')
	}
	return b
}
