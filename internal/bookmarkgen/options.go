// Package bookmarkgen fills the reference bookmark schema (linkbackup.BookmarkSchema) with
// deterministic data: the same Options give byte-identical rows, timestamps included, with
// every Go version, so that tests, demos and benchmarks can rely on exact content.
//
// Ids are explicit and dense: members 1..Members; member m owns folders
// (m-1)*F+1 .. m*F (F = the effective FoldersPerMember) and a contiguous run of link ids.
// The identity sequences are advanced past the generated ids, so later INSERTs work.
//
// Rows are streamed to PostgreSQL with COPY (pgx CopyFrom) in batches inside one
// transaction; memory stays bounded whatever the size.
package bookmarkgen

import (
	"errors"
	"fmt"
	"time"
)

// Options says what to generate. Start from DefaultOptions: zero values are taken
// literally (PremiumPercent 0 means no premium member), except FoldersPerMember.
type Options struct {
	// Members is the number of members (ids 1..Members). Default 100.
	Members int
	// LinksPerMember is the number of links of each member (see Hostile for the
	// exception). Default 50.
	LinksPerMember int
	// Seed selects the data set. Default 1.
	Seed int64
	// PremiumPercent of members have plan 'premium'. Default 30.
	PremiumPercent int
	// OptInPercent of premium members have weekly_backup = true. Default 70.
	OptInPercent int
	// DeletedPercent of members have deleted_at set (any plan). Default 2.
	DeletedPercent int
	// MaxFolderDepth bounds the folder tree; 1 means top-level folders only. Default 4.
	MaxFolderDepth int
	// FoldersPerMember is the number of folders of each member; 0 means
	// max(1, LinksPerMember/10), at least 4 with Inconsistent. Default 0.
	FoldersPerMember int
	// Hostile sprinkles hostile content into a deterministic fraction of rows (1 link in
	// 50, 1 folder in 20, 1 member in 10) and leaves every 97th member without links; see
	// the hostile* lists in content.go for each case. Default true.
	Hostile bool
	// Inconsistent adds rows that break the application's invariants (but not the
	// schema's), for the export's leak tests; see Anomaly. Needs Members >= 4,
	// LinksPerMember >= 2 and FoldersPerMember 0 (automatic) or >= 4. Default false.
	Inconsistent bool
	// Shape selects the content of the ordinary (not hostile) links: ShapeDefault (""),
	// ShapeSmall (short rows: a short URL and title, no notes, at most one tag) or
	// ShapeWide (long titles and notes of several KiB, stored out of line by TOAST).
	// Members, folders and hostile rows are the same in every shape. Default "".
	Shape string
}

// Data shapes (Options.Shape).
const (
	ShapeDefault = ""
	ShapeSmall   = "small"
	ShapeWide    = "wide"
)

// DefaultOptions returns a small, hostile, consistent data set.
func DefaultOptions() Options {
	return Options{
		Members:        100,
		LinksPerMember: 50,
		Seed:           1,
		PremiumPercent: 30,
		OptInPercent:   70,
		DeletedPercent: 2,
		MaxFolderDepth: 4,
		Hostile:        true,
	}
}

// BaseTime is the origin of every generated timestamp (never time.Now): members are
// created within four years after it, their folders and links later.
var BaseTime = time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)

// folders returns the effective number of folders per member.
func (o Options) folders() int {
	if o.FoldersPerMember > 0 {
		return o.FoldersPerMember
	}
	if o.Inconsistent {
		return max(4, o.LinksPerMember/10)
	}
	return max(1, o.LinksPerMember/10)
}

// linksOf returns the number of links of member id.
func (o Options) linksOf(id int64) int {
	if o.Hostile && id%emptyMemberEvery == 0 {
		return 0
	}
	return o.LinksPerMember
}

// Validate checks the ranges with field-specific messages.
func (o Options) Validate() error {
	var errs []error
	if o.Members < 0 {
		errs = append(errs, fmt.Errorf("members %d: must be >= 0", o.Members))
	}
	if o.LinksPerMember < 0 {
		errs = append(errs, fmt.Errorf("links per member %d: must be >= 0", o.LinksPerMember))
	}
	if o.FoldersPerMember < 0 {
		errs = append(errs, fmt.Errorf("folders per member %d: must be >= 0 (0: automatic)", o.FoldersPerMember))
	}
	if o.MaxFolderDepth < 1 {
		errs = append(errs, fmt.Errorf("max folder depth %d: must be >= 1", o.MaxFolderDepth))
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"premium percent", o.PremiumPercent}, {"opt-in percent", o.OptInPercent}, {"deleted percent", o.DeletedPercent}} {
		if p.v < 0 || p.v > 100 {
			errs = append(errs, fmt.Errorf("%s %d: must be within 0..100", p.name, p.v))
		}
	}
	switch o.Shape {
	case ShapeDefault, ShapeSmall, ShapeWide:
	default:
		errs = append(errs, fmt.Errorf("shape %q: must be %q, %q or empty (default)", o.Shape, ShapeSmall, ShapeWide))
	}
	if o.Inconsistent && (o.Members < 4 || o.LinksPerMember < 2 || o.folders() < 4) {
		errs = append(errs, fmt.Errorf("inconsistent: needs >= 4 members, >= 2 links and >= 4 folders per member (have %d, %d, %d)",
			o.Members, o.LinksPerMember, o.folders()))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bookmarkgen: %w", err)
	}
	return nil
}

// Stats counts what the database holds after Generate. Member counts are read back after
// the anomalies are applied.
type Stats struct {
	Members int64
	Premium int64 // plan = 'premium', deleted or not
	OptedIn int64 // premium and weekly_backup, deleted or not
	Deleted int64 // deleted_at IS NOT NULL
	Folders int64
	Links   int64
	// Anomalies lists the rows changed by Options.Inconsistent, in a fixed order.
	Anomalies []Anomaly
}

// Anomaly is one row that breaks an application invariant on purpose.
type Anomaly struct {
	Kind   string // one of the Anomaly* constants
	Member int64  // the member whose export is at risk
	Table  string // "links", "folders" or "members"
	ID     int64  // row id in Table
	Detail string
}

// Anomaly kinds (Options.Inconsistent). Member A below is the first premium, opted-in,
// non-deleted member with links; B is the first other member; C and D the two highest
// ids besides A and B.
const (
	// AnomalyCanaryFolder: B's first folder is renamed Canary+"-member-<B>-folder-<id>".
	// It is B's and legitimately appears in B's export only.
	AnomalyCanaryFolder = "canary-folder"
	// AnomalyCrossMemberLink: A's first link has folder_id = B's canary folder.
	AnomalyCrossMemberLink = "cross-member-link"
	// AnomalyCrossMemberParent: A's fourth folder has parent_id = B's canary folder.
	AnomalyCrossMemberParent = "cross-member-parent"
	// AnomalyFolderCycle: A's first two folders are each other's parent (a->b->a), and
	// A's second link is moved into the first; their subtrees are unreachable from the top.
	AnomalyFolderCycle = "folder-cycle"
	// AnomalySelfParent: A's third folder is its own parent.
	AnomalySelfParent = "self-parent"
	// AnomalyFreeOptedIn: C has plan 'free' but weekly_backup = true (must get no mail);
	// C's first link's title becomes Canary+"-free-member-<C>".
	AnomalyFreeOptedIn = "free-opted-in"
	// AnomalyDeletedOptedIn: D is premium, opted in and deleted (must get no mail); D's
	// first link's title becomes Canary+"-deleted-member-<D>".
	AnomalyDeletedOptedIn = "deleted-opted-in"
)

// Canary prefixes every name planted by Options.Inconsistent: it must never appear in
// the export of a member other than its owner (B's folder), nor at all (C's, D's links).
const Canary = "CANARY"
