package export

// bookmark cleans and escapes l (with a Builder of its own).
func bookmark(l *Link) Bookmark {
	var b Builder
	var bm Bookmark
	b.bookmark(&bm, l)
	return bm
}

// bookmark sets *bm to l cleaned and escaped (in place: the tree's slices are filled
// without copying a Bookmark around). Plain ASCII text, the common case, is recognised
// by one classify pass per string and neither copied nor scanned again; escaped text
// goes to b's arena.
func (b *Builder) bookmark(bm *Bookmark, l *Link) {
	tags, tagsEsc := cleanTags(l.Tags)
	*bm = Bookmark{Row: l, URL: l.URL, Title: l.Title, Notes: l.Notes, Tags: tags, Unsafe: UnsafeURL(l.URL)}
	cu := classify(bm.URL)
	if cu&(clsCtl|clsTabLF|clsURLBad|clsHigh) != 0 {
		bm.URL = CleanURL(bm.URL)
		cu = classify(bm.URL)
	}
	ct := classify(bm.Title)
	if ct&(clsCtl|clsTabLF|clsHigh) != 0 || spaceAtEdge(bm.Title) || bm.Title == "" {
		if bm.Title = CleanTitle(bm.Title); bm.Title == "" {
			// The URL stands in, cleaned as a title too (it may end in U+3000 or
			// another space CleanURL keeps); a URL that is nothing but such
			// spaces stays as it is.
			if bm.Title = CleanTitle(bm.URL); bm.Title == "" {
				bm.Title = bm.URL
			}
		}
		ct = classify(bm.Title)
	}
	cn := classify(bm.Notes)
	if cn&(clsCtl|clsHigh) != 0 || cn&clsTabLF != 0 && bm.Notes != "" && isEdgeTabLF(bm.Notes) || spaceAtEdge(bm.Notes) {
		bm.Notes = CleanNotes(bm.Notes)
		cn = classify(bm.Notes)
	}
	bm.escURL, bm.escTitle, bm.escNotes = bm.URL, bm.Title, bm.Notes
	if cu&clsEsc != 0 {
		bm.escURL = b.escape(bm.URL)
	}
	if ct&clsEsc != 0 {
		bm.escTitle = b.escape(bm.Title)
	}
	if cn&clsEsc != 0 {
		bm.escNotes = b.escape(bm.Notes)
	}
	switch {
	case len(tags) == 1 && !tagsEsc:
		bm.escTags = tags[0]
	case len(tags) > 0:
		bm.escTags = b.joinTags(tags, tagsEsc)
	}
}

func isEdgeTabLF(s string) bool {
	a, z := s[0], s[len(s)-1]
	return a == '\t' || a == '\n' || z == '\t' || z == '\n'
}

// cleanTags returns tags cleaned, without empty ones (tags itself when all are clean),
// and whether one of them holds a character to escape.
func cleanTags(tags []string) ([]string, bool) {
	var cls uint8
	for i, t := range tags {
		c := classify(t)
		cls |= c
		if t != "" && c&(clsCtl|clsTabLF|clsComma|clsHigh) == 0 && !spaceAtEdge(t) {
			continue
		}
		if c := CleanTag(t); c != t || c == "" {
			out := make([]string, 0, len(tags))
			out = append(out, tags[:i]...)
			for _, t := range tags[i:] {
				if c := CleanTag(t); c != "" {
					out = append(out, c)
					cls |= classify(c)
				}
			}
			return out, cls&clsEsc != 0
		}
	}
	return tags, cls&clsEsc != 0
}
