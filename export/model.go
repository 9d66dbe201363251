package export

import (
	"cmp"
	"slices"
	"time"
	"unsafe"
)

// Member is the owner of an export. BuildTree uses only ID (in warnings); Email and
// DisplayName are carried for the caller (the mailer) and are not written to the files.
type Member struct {
	ID          int64
	Email       string
	DisplayName string
}

// Folder is one row of the member's folder table. Ids are positive; ParentID 0 means
// top level.
type Folder struct {
	ID        int64
	ParentID  int64
	Name      string
	Position  int32
	CreatedAt time.Time // zero: unknown, not written
	UpdatedAt time.Time // zero: unknown, not written
}

// Link is one bookmark. FolderID 0 means top level.
type Link struct {
	ID        int64
	FolderID  int64
	URL       string
	Title     string
	Notes     string
	Tags      []string
	Private   bool
	ReadLater bool
	Position  int32
	CreatedAt time.Time // zero: unknown, not written
	UpdatedAt time.Time // zero: unknown, not written
	VisitedAt time.Time // zero: never visited
}

// Node is a folder of the rendered tree (the root node has a zero Folder). Subfolders
// come before links; each list is ordered by (position, id). Folder.Name is cleaned
// (CleanTitle, UntitledFolder when empty).
type Node struct {
	Folder  Folder
	Folders []*Node
	Links   []Bookmark

	escName string // Folder.Name escaped for both formats
}

// Bookmark is a Link as the files show it. BuildTree cleans the text once for every
// format: URL is CleanURL(url), Title is CleanTitle(title) or, when that is empty,
// CleanTitle(URL) (URL itself if that is empty too), Notes is CleanNotes(notes), Tags
// holds the non-empty CleanTag(tag) in order. Ids, flags, position and dates are read
// from Row.
type Bookmark struct {
	// Row points at the link passed to BuildTree (not a copy, to keep BuildTree cheap:
	// do not modify the links slice while the tree is in use).
	Row   *Link
	URL   string
	Title string
	Notes string
	Tags  []string
	// Unsafe: the raw URL is a javascript:, vbscript: or data: URL (UnsafeURL); the
	// link is left out of the HTML file.
	Unsafe bool

	// The text escaped once for both formats; escTags is Tags escaped and
	// comma-joined. They may point into the Builder's arena.
	escURL, escTitle, escNotes, escTags string
}

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

// arenaChunk is the size of the blocks the Builder's arena is allocated in.
const arenaChunk = 64 << 10

// reserve makes room for n more bytes in the arena. A full block is left to the
// strings that point into it and a new one is started (never grown in place: the
// strings handed out stay valid).
func (b *Builder) reserve(n int) {
	if cap(b.arena)-len(b.arena) < n {
		b.arena = make([]byte, 0, max(arenaChunk, n))
	}
}

// arenaString returns the arena's bytes from start on as a string; they are never
// written again before the next Build.
func (b *Builder) arenaString(start int) string {
	s := b.arena[start:]
	return unsafe.String(unsafe.SliceData(s), len(s))
}

// escape returns s escaped (appendEscaped), in the arena.
func (b *Builder) escape(s string) string {
	b.reserve(6 * len(s)) // "&quot;" is the longest replacement
	start := len(b.arena)
	b.arena = appendEscaped(b.arena, s)
	return b.arenaString(start)
}

// joinTags returns the tags comma-joined, in the arena, escaped when esc is set.
func (b *Builder) joinTags(tags []string, esc bool) string {
	n := 0
	for _, t := range tags {
		n += len(t) + 1
	}
	if esc {
		n *= 6
	}
	b.reserve(n)
	start := len(b.arena)
	for i, t := range tags {
		if i > 0 {
			b.arena = append(b.arena, ',')
		}
		if esc {
			b.arena = appendEscaped(b.arena, t)
		} else {
			b.arena = append(b.arena, t...)
		}
	}
	return b.arenaString(start)
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

// Tree is one member's bookmarks, ready to render. Build it with BuildTree; the
// renderers only read it, so one Tree may be rendered several times and concurrently.
type Tree struct {
	Member  Member
	Root    Node
	Folders int // folders in the tree
	Links   int // links in the tree
}

// Warning kinds: data that breaks the application's invariants. BuildTree repairs each
// case so that nothing leaks and nothing is lost, and reports it once per member and
// kind, with row ids only (never names, titles or URLs).
const (
	// WarnLinkFolderMissing: links whose folder_id is not one of the member's folders
	// (another member's folder, a deleted folder, a dangling id). They are placed at the
	// member's top level; the foreign folder is not rendered.
	WarnLinkFolderMissing = "link-folder-missing"
	// WarnFolderParentMissing: folders whose parent_id is not one of the member's
	// folders. They are placed at the member's top level.
	WarnFolderParentMissing = "folder-parent-missing"
	// WarnFolderCycle: folders whose parent chain loops (a self-parent included). Each
	// cycle is broken at its lowest folder id, which is placed at the top level; the
	// rest of the cycle and everything below it keep their place under it.
	WarnFolderCycle = "folder-cycle"
	// WarnDuplicateFolder and WarnDuplicateLink: a row id seen twice for the member
	// (a custom query that joins); the first row is kept.
	WarnDuplicateFolder = "duplicate-folder"
	WarnDuplicateLink   = "duplicate-link"
)

// Warning reports rows of one member that broke an invariant (see the Warn* kinds).
type Warning struct {
	Kind   string
	Member int64
	// IDs are the row ids concerned: link ids for link kinds, folder ids otherwise
	// (for WarnFolderCycle, the folders of every cycle, each from its lowest id on).
	IDs []int64
	// Refs are parallel to IDs: for WarnLinkFolderMissing and WarnFolderParentMissing
	// the missing folder id referenced; for WarnFolderCycle the id where the cycle was
	// cut (so the cycles can be told apart); none for duplicates.
	Refs []int64
}

// Message is a one-line English description of the kind, for logs.
func (w Warning) Message() string {
	switch w.Kind {
	case WarnLinkFolderMissing:
		return "links reference a folder that is not the member's (other member's, deleted or missing): placed at top level"
	case WarnFolderParentMissing:
		return "folders have a parent that is not the member's: placed at top level"
	case WarnFolderCycle:
		return "folder parents form a cycle: broken at the lowest id, placed at top level"
	case WarnDuplicateFolder:
		return "folder rows appear twice: later rows ignored"
	case WarnDuplicateLink:
		return "link rows appear twice: later rows ignored"
	}
	return w.Kind
}

// BuildTree arranges one member's folders and links into a tree: folders under their
// parent ordered by (position, id), links in their folder ordered by (position, id),
// links without a folder at the top level. It never drops a link and never loops,
// whatever the data (see the Warn* kinds for the repairs). Folders and links of other
// members must not be passed in: BuildTree trusts its input to be the member's own.
// It does not modify its arguments; the tree points into links (Bookmark.Row) and
// shares strings and Tags slices with them.
// All text is cleaned here, once for every format (see Bookmark).
func BuildTree(m Member, folders []Folder, links []Link) (*Tree, []Warning) {
	var b Builder
	return b.Build(m, folders, links)
}

// A Builder is BuildTree with memory reused from one member to the next, for loops over
// many members (one Builder per goroutine). The zero value is ready to use.
type Builder struct {
	tree                           Tree
	nodes                          []Node
	kids                           []*Node
	all                            []Bookmark
	parent, counts, lcounts, where []int32
	path                           []int32
	state                          []uint8
	ids                            []int64
	index                          map[int64]int32
	arena                          []byte // escaped text of the current tree
}

// resize returns s with length n and zeroed elements, reusing its array when large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// Build is BuildTree reusing b's memory: the tree it returns is valid until the next
// call of Build on b. A Builder must not be used by two goroutines at once.
func (b *Builder) Build(m Member, folders []Folder, links []Link) (*Tree, []Warning) {
	b.tree = Tree{Member: m}
	t := &b.tree
	if cap(b.arena) > 4*arenaChunk { // do not keep a block a huge title grew
		b.arena = nil
	}
	b.arena = b.arena[:0]
	var warns []Warning
	warn := func(kind string, id int64, ref ...int64) {
		i := slices.IndexFunc(warns, func(w Warning) bool { return w.Kind == kind })
		if i < 0 {
			warns = append(warns, Warning{Kind: kind, Member: m.ID})
			i = len(warns) - 1
		}
		warns[i].IDs = append(warns[i].IDs, id)
		warns[i].Refs = append(warns[i].Refs, ref...)
	}

	// Index the folders; later duplicates are dropped.
	if b.index == nil || len(b.index) > 4096 { // do not keep clearing a huge map
		b.index = make(map[int64]int32, len(folders))
	} else {
		clear(b.index)
	}
	index := b.index
	nodes := resize(b.nodes, len(folders))[:0]
	for _, f := range folders {
		if _, dup := index[f.ID]; dup {
			warn(WarnDuplicateFolder, f.ID)
			continue
		}
		index[f.ID] = int32(len(nodes))
		if f.Name = CleanTitle(f.Name); f.Name == "" {
			f.Name = UntitledFolder
		}
		esc := f.Name
		if classify(esc)&clsEsc != 0 {
			esc = b.escape(esc)
		}
		nodes = append(nodes, Node{Folder: f, escName: esc})
	}
	b.nodes = nodes
	t.Folders = len(nodes)

	// Effective parent of each folder: -1 is the root.
	parent := resize(b.parent, len(nodes))
	b.parent = parent
	for i := range nodes {
		p := nodes[i].Folder.ParentID
		if p == 0 {
			parent[i] = -1
			continue
		}
		j, ok := index[p]
		if !ok {
			warn(WarnFolderParentMissing, nodes[i].Folder.ID, p)
			parent[i] = -1
			continue
		}
		parent[i] = j
	}
	b.breakCycles(warn)

	// Children: bucket the folders by parent in one backing array, then order each bucket.
	counts := resize(b.counts, len(nodes)+1) // counts[i+1]: children of i; counts[0]: root
	b.counts = counts
	for i := range nodes {
		counts[parent[i]+1]++
	}
	kids := resize(b.kids, len(nodes))
	b.kids = kids
	assign := func(off int, n int32) []*Node { return kids[off : off : off+int(n)] }
	off := 0
	t.Root.Folders = assign(off, counts[0])
	off += int(counts[0])
	for i := range nodes {
		nodes[i].Folders = assign(off, counts[i+1])
		off += int(counts[i+1])
	}
	for i := range nodes {
		n := &nodes[i]
		if parent[i] < 0 {
			t.Root.Folders = append(t.Root.Folders, n)
		} else {
			p := &nodes[parent[i]]
			p.Folders = append(p.Folders, n)
		}
	}
	sortFolders(t.Root.Folders)
	for i := range nodes {
		sortFolders(nodes[i].Folders)
	}

	// Links: same bucketing; duplicates (same id) are dropped.
	where := resize(b.where, len(links)) // node index, -1 root, -2 dropped
	b.where = where
	lcounts := resize(b.lcounts, len(nodes)+1)
	b.lcounts = lcounts
	var seen map[int64]struct{}
	if b.hasDuplicateID(links) {
		seen = make(map[int64]struct{}, len(links))
	}
	for i := range links {
		l := &links[i]
		if seen != nil {
			if _, dup := seen[l.ID]; dup {
				warn(WarnDuplicateLink, l.ID)
				where[i] = -2
				continue
			}
			seen[l.ID] = struct{}{}
		}
		w := int32(-1)
		if l.FolderID != 0 {
			j, ok := index[l.FolderID]
			if ok {
				w = j
			} else {
				warn(WarnLinkFolderMissing, l.ID, l.FolderID)
			}
		}
		where[i] = w
		lcounts[w+1]++
	}
	all := resize(b.all, len(links))
	b.all = all
	lassign := func(off int, n int32) []Bookmark { return all[off : off : off+int(n)] }
	off = 0
	t.Root.Links = lassign(off, lcounts[0])
	off += int(lcounts[0])
	for i := range nodes {
		nodes[i].Links = lassign(off, lcounts[i+1])
		off += int(lcounts[i+1])
	}
	for i := range links {
		switch w := where[i]; {
		case w == -2:
		case w < 0:
			t.Root.Links = t.Root.Links[:len(t.Root.Links)+1] // within the bucket's capacity
			b.bookmark(&t.Root.Links[len(t.Root.Links)-1], &links[i])
			t.Links++
		default:
			n := &nodes[w]
			n.Links = n.Links[:len(n.Links)+1]
			b.bookmark(&n.Links[len(n.Links)-1], &links[i])
			t.Links++
		}
	}
	sortLinks(t.Root.Links)
	for i := range nodes {
		sortLinks(nodes[i].Links)
	}
	return t, warns
}

// hasDuplicateID reports whether two links share an id.
func (b *Builder) hasDuplicateID(links []Link) bool {
	if len(links) < 2 {
		return false
	}
	ids := resize(b.ids, len(links))
	b.ids = ids
	for i := range links {
		ids[i] = links[i].ID
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return true
		}
	}
	return false
}

// breakCycles makes every folder reach the root by following parent. A folder chain
// that loops is cut at the lowest id of the loop, which becomes a top-level folder.
// Linear time: every folder is walked once.
func (b *Builder) breakCycles(warn func(kind string, id int64, ref ...int64)) {
	const (
		unknown = iota
		walking
		done
	)
	nodes, parent := b.nodes, b.parent
	state := resize(b.state, len(nodes))
	b.state = state
	path := b.path[:0]
	defer func() { b.path = path[:0] }()
	for start := range nodes {
		if state[start] != unknown {
			continue
		}
		path = path[:0]
		i := int32(start)
		for i >= 0 && state[i] == unknown {
			state[i] = walking
			path = append(path, i)
			i = parent[i]
		}
		if i >= 0 && state[i] == walking {
			// path[k:] is a cycle in child->parent order; the parent of its last
			// element is its first.
			cycle := path[slices.Index(path, i):]
			low := 0
			for k, c := range cycle {
				if nodes[c].Folder.ID < nodes[cycle[low]].Folder.ID {
					low = k
				}
			}
			parent[cycle[low]] = -1
			cut := nodes[cycle[low]].Folder.ID
			for k := range cycle {
				warn(WarnFolderCycle, nodes[cycle[(low+k)%len(cycle)]].Folder.ID, cut)
			}
		}
		for _, p := range path {
			state[p] = done
		}
	}
}

func sortFolders(s []*Node) {
	less := func(a, b *Node) int {
		if c := cmp.Compare(a.Folder.Position, b.Folder.Position); c != 0 {
			return c
		}
		return cmp.Compare(a.Folder.ID, b.Folder.ID)
	}
	if !slices.IsSortedFunc(s, less) {
		slices.SortFunc(s, less)
	}
}

func sortLinks(s []Bookmark) {
	less := func(a, b Bookmark) int {
		if c := cmp.Compare(a.Row.Position, b.Row.Position); c != 0 {
			return c
		}
		return cmp.Compare(a.Row.ID, b.Row.ID)
	}
	if !slices.IsSortedFunc(s, less) {
		slices.SortFunc(s, less)
	}
}
