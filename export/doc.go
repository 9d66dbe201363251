// Package export renders one member's bookmarks as the files of the weekly member
// export: a Netscape bookmark file (browser import), an XBEL 1.0 document, and a zip
// holding both. It works on plain structs (Member, Folder, Link), streams to an
// io.Writer and holds no database code: export/pgsource reads the rows.
//
// Use: BuildTree(member, folders, links) repairs inconsistent data, cleans and escapes
// the text once and returns the warnings to log; then WriteZip, WriteHTML or WriteXBEL
// render the tree. A loop over many members uses one Builder per goroutine instead, so
// that memory is reused from member to member:
//
//	var b export.Builder
//	for each member {
//		tree, warns := b.Build(member, folders, links)
//		stats, err := export.WriteZip(w, tree, export.ZipOptions{Date: day})
//	}
//
// # What is written, and the decisions behind it
//
// The rules follow what real readers were measured to accept (Firefox and Chromium
// import, buku, Shaarli, html5lib, jsdom, golang.org/x/net/html, netscape-go):
//
//   - HTML: DOCTYPE, META charset UTF-8, TITLE, H1, then one item per line, no
//     indentation, upper-case tags and attributes, <DT> never closed, folders as
//     <DT><H3 ...>name</H3> followed by <DL><p> ... </DL><p>. Per link HREF,
//     ADD_DATE and LAST_MODIFIED (Unix seconds, left out when unknown), TAGS (only
//     when there is a tag), PRIVATE and TOREAD ("1"/"0"), notes on a <DD> line.
//     No PERSONAL_TOOLBAR_FOLDER, no ICON.
//   - XBEL: ids "f<id>"/"b<id>", added/modified/visited, tags, notes in <desc>;
//     private and read-later are declared in the internal subset with the default
//     "no" and written only when "yes" (a validating parser supplies "no").
//   - Escaping, in both files: exactly &amp; &lt; &gt; &quot; &#39;; every other
//     character raw UTF-8. These five are the only references Chromium decodes and
//     all are valid XML.
//   - Titles and folder names (CleanTitle): controls (CR, LF, TAB, all C0, DEL, C1)
//     become spaces, then trimmed; invalid UTF-8 and U+FFFE/U+FFFF become U+FFFD. An
//     empty link title becomes the URL; an empty folder name becomes UntitledFolder.
//     Long titles (10,000 characters and more) are kept whole: every reader tried
//     imports them.
//   - Notes (CleanNotes): CRLF and CR become LF, newlines and tabs are kept, other
//     controls become spaces, invalid UTF-8 becomes U+FFFD, leading/trailing blank
//     space is trimmed (readers trim it anyway). Continuation lines are not indented
//     and carry no <br>; "</DL>" in a note is escaped, so it cannot end a list.
//   - Tags (CleanTag): like titles, and a comma inside a tag becomes a space (TAGS
//     is comma-separated); tags empty after cleaning are not written.
//   - URLs (CleanURL): leading/trailing ASCII white space and controls are dropped
//     (browsers drop them too); controls, space, DEL, '"', '<', '>', the bytes of
//     invalid UTF-8, C1 controls and U+FFFE/U+FFFF are percent-encoded; the rest is
//     kept (existing %XX sequences included), then '&' is escaped as &amp;.
//   - Dates: HTML as integer Unix seconds (never milliseconds); XBEL as W3C-DTF UTC to
//     the second; a zero time is not written, nor in XBEL a year outside 0001-9999.
//
// # javascript:, vbscript: and data: URLs
//
// Decision: such links are LEFT OUT OF THE HTML FILE and KEPT IN THE XBEL FILE.
// The HTML file is a web page as much as an import format: a member who double-clicks
// the attachment opens it in a browser, where a javascript: link planted by someone
// else (shared folders, imports) would run script in a page holding all the member's
// bookmarks, private ones included; data: URLs can carry such pages too and can be
// megabytes long. The XBEL file is XML that browsers do not render as links, so it
// keeps every bookmark (bookmarklets are legitimate) and the archive loses nothing.
// Stats.OmittedHTML counts the links left out, so that the caller (the summary, the
// mail) can say so. The scheme is read the way browsers read it (UnsafeURL: case
// folded, leading controls/spaces ignored, TAB/LF/CR removed), so "JaVa\tScript:"
// is caught as well.
//
// # Inconsistent data
//
// BuildTree only ever sees one member's rows and never looks elsewhere: a link whose
// folder is not among the member's folders (another member's, deleted, dangling) goes
// to the top level and the foreign folder is not rendered; a folder whose parent is not
// the member's goes to the top level; a parent cycle is cut at its lowest id (no hang,
// no lost link); duplicate rows are dropped. Each case yields one Warning per member
// and kind, with row ids and never content.
package export
