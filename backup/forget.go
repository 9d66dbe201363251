package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/linkagogo/linkbackup/backup/retention"
)

// ForgetOptions configure Forget.
type ForgetOptions struct {
	Store    Store
	Policy   retention.Policy
	Location *time.Location // calendar buckets; nil = UTC
	// Now is the evaluation time; zero = the current time.
	Now    time.Time
	DryRun bool
	// OrphanAge: incomplete snapshots and multipart uploads older than this are removed
	// too (not in a dry run). 0 = 24h, < 0 = never.
	OrphanAge time.Duration
	// Lock keeps backups and standby refreshes of the same database out while snapshots
	// are removed. Required unless DryRun.
	Lock Locker
	// Jobs is how many manifests are read in parallel. Default 8.
	Jobs int
	Log  *slog.Logger
	// clock is the real clock for orphan ages (tests).
	clock func() time.Time
}

// ForgetReport is what Forget decided and did.
type ForgetReport struct {
	Now      time.Time        `json:"now"`
	TimeZone string           `json:"time_zone"`
	Policy   retention.Policy `json:"policy"`
	DryRun   bool             `json:"dry_run"`
	retention.Plan
	Kept    retention.Totals `json:"kept"`
	Removed retention.Totals `json:"removed"`
	// NotRemoved: snapshots the plan removes that are still complete (manifest delete
	// refused, or pinned during the run).
	NotRemoved []string `json:"not_removed,omitempty"`
	// Failures: every object the store refused to delete.
	Failures []DeleteFailure `json:"failures,omitempty"`
	// Finished: snapshots an interrupted earlier forget had made invisible, whose objects
	// this run removed.
	Finished       []string `json:"finished,omitempty"`
	OrphanError    string   `json:"orphan_error,omitempty"`
	UploadsAborted int      `json:"uploads_aborted"`
	UploadsError   string   `json:"uploads_error,omitempty"`
	// Physical: base backups and archived WAL (when the store holds base backups).
	Physical *PhysicalRemoval `json:"physical,omitempty"`
}

// DeleteFailure is one object the store refused to delete.
type DeleteFailure struct {
	Snapshot string `json:"snapshot"`
	Key      string `json:"key"`
	Error    string `json:"error"`
}

// ErrForgetPartial: some deletes were refused (the report lists every object).
var ErrForgetPartial = errors.New("forget: some objects could not be deleted")

// Forget applies the retention policy to every database in the store. Removal of one
// snapshot: its id goes into an intent record (forget/<run>.json), the manifest is
// deleted (the snapshot no longer exists for any command), then its objects; a run that
// dies in between leaves an invisible remainder that the next Forget removes via the
// intent, and orphan cleanup after backup.orphan_age anyway. A refused manifest delete
// leaves the snapshot complete and listed; refused deletes are reported per object and
// return an error wrapping ErrForgetPartial.
func Forget(ctx context.Context, o ForgetOptions) (*ForgetReport, error) {
	o.defaults()
	if err := o.Policy.Validate(); err != nil {
		return nil, err
	}
	if !o.DryRun && o.Lock == nil {
		return nil, errors.New("forget: no lock to keep backups and standby refreshes out (Locker required unless dry run)")
	}
	inv, err := readInventory(ctx, o.Store, o.Jobs)
	if err != nil {
		return nil, err
	}
	if !o.DryRun {
		release, err := lockAll(ctx, o.Lock, inv.databases())
		if err != nil {
			return nil, err
		}
		defer release()
	}
	prot, err := readProtections(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	r := &ForgetReport{Now: o.Now.UTC(), TimeZone: o.Location.String(), Policy: o.Policy, DryRun: o.DryRun}
	r.Plan = retention.Decide(inv.snaps, prot, o.Policy, o.Now, o.Location)
	r.Kept, r.Removed = r.Plan.Totals()
	if o.DryRun {
		return r, o.forgetPhysical(ctx, r)
	}
	if err := o.finishEarlier(ctx, inv, r); err != nil {
		return r, err
	}
	if err := o.remove(ctx, inv, r); err != nil {
		return r, err
	}
	o.cleanup(ctx, r)
	if err := o.forgetPhysical(ctx, r); err != nil {
		return r, err
	}
	if len(r.Failures) > 0 || len(r.NotRemoved) > 0 {
		return r, fmt.Errorf("%w: %d objects refused, %d snapshots not removed (see the report)",
			ErrForgetPartial, len(r.Failures), len(r.NotRemoved))
	}
	return r, nil
}

func (o *ForgetOptions) defaults() {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	if o.Now.IsZero() {
		o.Now = o.clock()
	}
	if o.OrphanAge == 0 {
		o.OrphanAge = 24 * time.Hour
	}
	if o.Jobs <= 0 {
		o.Jobs = 8
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// inventory is the store's snapshots as one List and one manifest read each.
type inventory struct {
	snaps []retention.Snapshot
	// keys: every object under snapshots/<id>/ by id, manifest last; complete: has a manifest.
	keys     map[string][]string
	complete map[string]bool
}

func (inv *inventory) databases() []string {
	var dbs []string
	for _, s := range inv.snaps {
		if !slices.Contains(dbs, s.Database) {
			dbs = append(dbs, s.Database)
		}
	}
	slices.Sort(dbs)
	return dbs
}

func readInventory(ctx context.Context, st Store, jobs int) (*inventory, error) {
	objs, err := st.List(ctx, SnapshotsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	inv := &inventory{keys: map[string][]string{}, complete: map[string]bool{}}
	bytes := map[string]int64{}
	var ids []string
	for _, obj := range objs {
		id, name, ok := strings.Cut(strings.TrimPrefix(obj.Key, SnapshotsPrefix), "/")
		if !ok {
			continue
		}
		if _, seen := inv.keys[id]; !seen {
			ids = append(ids, id)
		}
		inv.keys[id] = append(inv.keys[id], obj.Key)
		bytes[id] += obj.Size
		if name == ManifestName {
			inv.complete[id] = true
		}
	}
	for id, ks := range inv.keys { // the manifest goes first when removing: keep it apart
		inv.keys[id] = slices.DeleteFunc(ks, func(k string) bool { return k == ManifestKey(id) })
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, id := range ids {
		if !inv.complete[id] {
			continue
		}
		g.Go(func() error {
			m, err := ReadManifest(gctx, st, id)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			inv.snaps = append(inv.snaps, retention.Snapshot{ID: id, Database: m.Database, Time: m.Started, Bytes: bytes[id]})
			return nil
		})
	}
	return inv, g.Wait()
}

func readProtections(ctx context.Context, st Store) (retention.Protections, error) {
	drills, err := ReadDrillFacts(ctx, st)
	if err != nil {
		return retention.Protections{}, err
	}
	pins, err := ListPins(ctx, st)
	if err != nil {
		return retention.Protections{}, err
	}
	prot := retention.Protections{Proven: drills.Proven, Reasons: drills.Reasons}
	for id, p := range pins {
		prot.Reasons[id] = append(prot.Reasons[id], "pinned: "+p.Reason)
	}
	return prot, nil
}

func lockAll(ctx context.Context, l Locker, dbs []string) (func(), error) {
	var releases []func()
	release := func() {
		for i := len(releases) - 1; i >= 0; i-- {
			releases[i]()
		}
	}
	for _, db := range dbs {
		r, err := l.Lock(ctx, db)
		if err != nil {
			release()
			return nil, err
		}
		releases = append(releases, r)
	}
	return release, nil
}
