package export

import (
	"cmp"
	"slices"
)

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
	b.indexFolders(folders, warn)
	b.resolveParents(warn)
	b.breakCycles(warn)
	b.placeFolders()
	b.locateLinks(links, warn)
	b.placeLinks(links)
	return &b.tree, warns
}

// indexFolders cleans the folders into b.nodes and indexes them by id in b.index; later
// duplicates are dropped.
func (b *Builder) indexFolders(folders []Folder, warn func(kind string, id int64, ref ...int64)) {
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
	b.tree.Folders = len(nodes)
}

// resolveParents sets b.parent to the effective parent of each folder: -1 is the root.
func (b *Builder) resolveParents(warn func(kind string, id int64, ref ...int64)) {
	nodes, index := b.nodes, b.index
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
}

// placeFolders puts each folder under its parent: the folders are bucketed by parent in
// one backing array, then each bucket is ordered.
func (b *Builder) placeFolders() {
	t, nodes, parent := &b.tree, b.nodes, b.parent
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
}

// locateLinks sets b.where to the folder of each link (node index, -1 root, -2 dropped
// as a duplicate id) and b.lcounts to the number of links per folder.
func (b *Builder) locateLinks(links []Link, warn func(kind string, id int64, ref ...int64)) {
	index := b.index
	where := resize(b.where, len(links)) // node index, -1 root, -2 dropped
	b.where = where
	lcounts := resize(b.lcounts, len(b.nodes)+1)
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
}

// placeLinks cleans each link into its folder's bucket (one backing array, sized by
// locateLinks), then orders each bucket.
func (b *Builder) placeLinks(links []Link) {
	t, nodes, where, lcounts := &b.tree, b.nodes, b.where, b.lcounts
	all := resize(b.all, len(links))
	b.all = all
	lassign := func(off int, n int32) []Bookmark { return all[off : off : off+int(n)] }
	off := 0
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
