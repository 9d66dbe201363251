package export

import "time"

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
