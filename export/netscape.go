package export

import "io"

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

func htmlFolder(o *out, n *Node, st *Stats) {
	for _, c := range n.Folders {
		f := &c.Folder
		o.str("<DT><H3")
		htmlDates(o, f.CreatedAt.IsZero(), f.CreatedAt.Unix(), f.UpdatedAt.IsZero(), f.UpdatedAt.Unix())
		o.str(">")
		o.str(c.escName)
		o.str("</H3>\n<DL><p>\n")
		st.Folders++
		htmlFolder(o, c, st)
		o.str("</DL><p>\n")
		o.maybeFlush()
	}
	for i := range n.Links {
		l := &n.Links[i]
		if l.Unsafe {
			st.OmittedHTML++
			continue
		}
		o.str(`<DT><A HREF="`)
		o.str(l.escURL)
		o.str(`"`)
		r := l.Row
		htmlDates(o, r.CreatedAt.IsZero(), r.CreatedAt.Unix(), r.UpdatedAt.IsZero(), r.UpdatedAt.Unix())
		if len(l.Tags) > 0 {
			o.str(` TAGS="`)
			o.tags(l.Tags)
			o.str(`"`)
		}
		o.str(` PRIVATE="`)
		o.bool10(r.Private)
		o.str(`" TOREAD="`)
		o.bool10(r.ReadLater)
		o.str(`">`)
		o.str(l.escTitle)
		o.str("</A>\n")
		if l.Notes != "" {
			o.str("<DD>")
			o.str(l.escNotes)
			o.str("\n")
		}
		st.Links++
		o.maybeFlush()
	}
}

func htmlDates(o *out, noAdd bool, add int64, noMod bool, mod int64) {
	if !noAdd {
		o.str(` ADD_DATE="`)
		o.int(add)
		o.str(`"`)
	}
	if !noMod {
		o.str(` LAST_MODIFIED="`)
		o.int(mod)
		o.str(`"`)
	}
}
