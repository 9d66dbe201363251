package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/retention"
)

// forgetNow is when the forget tests evaluate: after the last fake night.
var forgetNow = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// fakeSnapshot stores a complete snapshot of db started at t (two schema objects and
// dataObjects data objects, then the manifest) and returns its manifest.
func fakeSnapshot(t testing.TB, st backup.Store, db string, at time.Time, dataObjects int) *backup.Manifest {
	t.Helper()
	ctx := context.Background()
	m := &backup.Manifest{Format: backup.FormatVersion, ID: at.UTC().Format(backup.IDFormat), Database: db,
		Started: at, Finished: at.Add(time.Minute), Compression: "zstd"}
	put := func(name string) backup.Object {
		key := backup.SnapshotPrefix(m.ID) + name
		info, err := st.Put(ctx, key, strings.NewReader("data of "+key))
		if err != nil {
			t.Fatal(err)
		}
		return backup.Object{Key: key, Size: info.Size}
	}
	m.PreData, m.PostData = put("schema/pre-data.sql.zst"), put("schema/post-data.sql.zst")
	tbl := backup.Table{Schema: "public", Name: "links"}
	for i := range dataObjects {
		tbl.Chunks = append(tbl.Chunks, backup.Chunk{Object: put(fmt.Sprintf("data/0000-public.links.%04d.copy.zst", i))})
	}
	m.Tables = []backup.Table{tbl}
	if err := backup.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// nights stores n nightly snapshots of db at 02:15 UTC (other databases than bookmarks
// at 03:00), the last one the night before forgetNow.
func nights(t testing.TB, st backup.Store, db string, n int) []*backup.Manifest {
	out := make([]*backup.Manifest, n)
	last := time.Date(2026, 12, 1, 2, 15, 0, 0, time.UTC)
	if db != "bookmarks" {
		last = last.Add(45 * time.Minute)
	}
	for i := range out {
		out[i] = fakeSnapshot(t, st, db, last.AddDate(0, 0, i-n+1), 2)
	}
	return out
}

// putDrill records in the store that standby db serves serving and keeps previous.
func putDrill(t testing.TB, st backup.Store, db string, serving, previous *backup.Manifest) {
	t.Helper()
	rec := func(m *backup.Manifest) *backup.StandbyRecord {
		if m == nil {
			return nil
		}
		return &backup.StandbyRecord{Database: db, Snapshot: m.ID, SourceDatabase: m.Database, SourceTime: m.Started, Verified: m.Finished}
	}
	b, err := json.Marshal(backup.DrillRecord{Database: db, Serving: rec(serving), Previous: rec(previous)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(context.Background(), backup.DrillKey(db), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

// fakeLocker records which databases were locked and whether they were released.
type fakeLocker struct {
	mu            sync.Mutex
	locked, freed []string
	refuse        error
}

func (l *fakeLocker) Lock(_ context.Context, db string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refuse != nil {
		return nil, l.refuse
	}
	l.locked = append(l.locked, db)
	return func() { l.mu.Lock(); l.freed = append(l.freed, db); l.mu.Unlock() }, nil
}

func keysOf(t testing.TB, st backup.Store, prefix string) []string {
	t.Helper()
	objs, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

// assertOnlyCompleteListed: every listed snapshot has every object its manifest names.
func assertOnlyCompleteListed(t *testing.T, st backup.Store) []string {
	t.Helper()
	ms, err := backup.ListSnapshots(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		for _, o := range m.Objects() {
			if _, err := st.Stat(context.Background(), o.Key); err != nil {
				t.Fatalf("listed snapshot %s lost object %s: %v", m.ID, o.Key, err)
			}
		}
		ids = append(ids, m.ID)
	}
	return ids
}

func forgetOpts(st backup.Store, pol retention.Policy, l backup.Locker) backup.ForgetOptions {
	return backup.ForgetOptions{Store: st, Policy: pol, Now: forgetNow, Lock: l, OrphanAge: 1000 * time.Hour}
}

func TestForgetRemovesExactlyTheRemovedSnapshots(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 10)
	shop := nights(t, st, "shop", 3)
	putDrill(t, st, "bookmarks", bm[6], bm[5])
	putDrill(t, st, "shop", shop[2], nil)
	if _, err := backup.PinSnapshot(ctx, st, bm[1].ID, "ticket 4711", "ops@host", forgetNow); err != nil {
		t.Fatal(err)
	}
	before := keysOf(t, st, backup.SnapshotsPrefix)
	l := &fakeLocker{}
	r, err := backup.Forget(ctx, forgetOpts(st, retention.Policy{Last: 1}, l))
	if err != nil {
		t.Fatal(err)
	}
	// Kept: bm[9] newest, bm[7..8] newer than the proven bm[6], bm[6] proven and served,
	// bm[5] previous, bm[1] pinned; shop[2] newest and proven.
	kept := []string{bm[1].ID, bm[5].ID, bm[6].ID, bm[7].ID, bm[8].ID, bm[9].ID, shop[2].ID}
	removed := []string{bm[0].ID, bm[2].ID, bm[3].ID, bm[4].ID, shop[0].ID, shop[1].ID}
	if got := assertOnlyCompleteListed(t, st); !slices.Equal(got, sorted(kept)) {
		t.Fatalf("listed after forget %v, want %v", got, sorted(kept))
	}
	var want []string
	for _, k := range before {
		if !slices.ContainsFunc(removed, func(id string) bool { return strings.HasPrefix(k, backup.SnapshotPrefix(id)) }) {
			want = append(want, k)
		}
	}
	if got := keysOf(t, st, backup.SnapshotsPrefix); !slices.Equal(got, want) {
		t.Fatalf("objects after forget:\n%v\nwant exactly the kept snapshots' objects:\n%v", got, want)
	}
	if r.Removed.Snapshots != len(removed) || r.Kept.Snapshots != len(kept) {
		t.Fatalf("report: kept %+v removed %+v", r.Kept, r.Removed)
	}
	if k := keysOf(t, st, backup.ForgetPrefix); len(k) != 0 {
		t.Fatalf("intent records left after a clean run: %v", k)
	}
	if !slices.Equal(l.locked, []string{"bookmarks", "shop"}) || len(l.freed) != 2 {
		t.Fatalf("locks taken %v, released %v", l.locked, l.freed)
	}
	pinnedReason := ""
	for _, d := range r.Decisions {
		if d.ID == bm[1].ID {
			pinnedReason = strings.Join(d.Reasons, ", ")
		}
	}
	if pinnedReason != "pinned: ticket 4711" {
		t.Fatalf("pinned snapshot's reasons %q", pinnedReason)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestForgetDryRunChangesNothing(t *testing.T) {
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 5)
	putDrill(t, st, "bookmarks", bm[4], nil)
	before := keysOf(t, st, "")
	r, err := backup.Forget(context.Background(), backup.ForgetOptions{Store: st, Policy: retention.Policy{Last: 1},
		Now: forgetNow, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Removed.Snapshots != 4 || !r.DryRun {
		t.Fatalf("dry run plan: %+v", r.Removed)
	}
	if after := keysOf(t, st, ""); !slices.Equal(before, after) {
		t.Fatalf("a dry run changed the store:\n%v\n%v", before, after)
	}
}

func TestForgetRefusesWithoutLockOrPolicy(t *testing.T) {
	st := fileStore(t)
	nights(t, st, "bookmarks", 2)
	if _, err := backup.Forget(context.Background(), forgetOpts(st, retention.Policy{}, &fakeLocker{})); !errors.Is(err, retention.ErrEmptyPolicy) {
		t.Fatalf("empty policy: %v", err)
	}
	if _, err := backup.Forget(context.Background(), forgetOpts(st, retention.Policy{Last: 1}, nil)); err == nil {
		t.Fatal("forget without a Locker ran")
	}
	locked := fmt.Errorf("forget: %w by someone", backup.ErrLocked)
	if _, err := backup.Forget(context.Background(), forgetOpts(st, retention.Policy{Last: 1}, &fakeLocker{refuse: locked})); !errors.Is(err, backup.ErrLocked) {
		t.Fatalf("locked: %v", err)
	}
	if n := len(assertOnlyCompleteListed(t, st)); n != 2 {
		t.Fatalf("%d snapshots left, want 2", n)
	}
}

// crashStore dies (every call fails) right after the first manifest delete succeeds:
// a forget killed between the manifest and the objects.
type crashStore struct {
	backup.Store
	dead atomic.Bool
}

var errCrashed = errors.New("process killed")

func (c *crashStore) Delete(ctx context.Context, key string) error {
	if c.dead.Load() {
		return errCrashed
	}
	err := c.Store.Delete(ctx, key)
	if strings.HasSuffix(key, "/"+backup.ManifestName) {
		c.dead.Store(true)
	}
	return err
}

func (c *crashStore) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if c.dead.Load() {
		return backup.ObjectInfo{}, errCrashed
	}
	return c.Store.Stat(ctx, key)
}

func (c *crashStore) Put(ctx context.Context, key string, r io.Reader) (backup.ObjectInfo, error) {
	if c.dead.Load() {
		return backup.ObjectInfo{}, errCrashed
	}
	return c.Store.Put(ctx, key, r)
}

func TestForgetKilledMidRunNextRunFinishes(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 6)
	putDrill(t, st, "bookmarks", bm[5], nil)
	_, err := backup.Forget(ctx, forgetOpts(&crashStore{Store: st}, retention.Policy{Last: 2}, &fakeLocker{}))
	if err == nil {
		t.Fatal("forget through a crashing store reported success")
	}
	// Removals run in parallel: every manifest deleted before the crash is a snapshot gone
	// for every command, with objects left; the rest are complete.
	listed := assertOnlyCompleteListed(t, st)
	var invisible []string
	for _, m := range bm[:4] {
		if !slices.Contains(listed, m.ID) && len(keysOf(t, st, backup.SnapshotPrefix(m.ID))) > 0 {
			invisible = append(invisible, m.ID)
		}
	}
	if len(invisible) == 0 || !slices.Contains(listed, bm[4].ID) || !slices.Contains(listed, bm[5].ID) {
		t.Fatalf("after the crash: listed %v, invisible remainders %v", listed, invisible)
	}
	// The next run (orphan_age 1000h: the orphan cleanup would not touch them) finishes.
	r, err := backup.Forget(ctx, forgetOpts(st, retention.Policy{Last: 2}, &fakeLocker{}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sorted(r.Finished), invisible) {
		t.Fatalf("second run finished %v, want %v", r.Finished, invisible)
	}
	for _, m := range bm[:4] {
		if left := keysOf(t, st, backup.SnapshotPrefix(m.ID)); len(left) != 0 {
			t.Fatalf("objects of %s left: %v", m.ID, left)
		}
	}
	if got := assertOnlyCompleteListed(t, st); !slices.Equal(got, []string{bm[4].ID, bm[5].ID}) {
		t.Fatalf("listed %v", got)
	}
	if k := keysOf(t, st, backup.ForgetPrefix); len(k) != 0 {
		t.Fatalf("intent records left: %v", k)
	}
}

// refusingStore refuses to delete keys below one prefix (S3 Object Lock, permissions).
type refusingStore struct {
	backup.Store
	prefix string
}

func (r *refusingStore) Delete(ctx context.Context, key string) error {
	if strings.HasPrefix(key, r.prefix) {
		return fmt.Errorf("delete %s: AccessDenied: object is WORM protected", key)
	}
	return r.Store.Delete(ctx, key)
}

func TestForgetRefusedDeleteKeepsSnapshotComplete(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 4)
	putDrill(t, st, "bookmarks", bm[3], nil)
	rs := &refusingStore{Store: st, prefix: backup.SnapshotPrefix(bm[1].ID)}
	r, err := backup.Forget(ctx, forgetOpts(rs, retention.Policy{Last: 1}, &fakeLocker{}))
	if !errors.Is(err, backup.ErrForgetPartial) {
		t.Fatalf("err = %v, want ErrForgetPartial", err)
	}
	if len(r.Failures) != 1 || r.Failures[0].Key != backup.ManifestKey(bm[1].ID) || !slices.Equal(r.NotRemoved, []string{bm[1].ID}) {
		t.Fatalf("failures %+v, not removed %v", r.Failures, r.NotRemoved)
	}
	if got := assertOnlyCompleteListed(t, st); !slices.Equal(got, []string{bm[1].ID, bm[3].ID}) {
		t.Fatalf("listed %v, want the refused one complete and the newest", got)
	}
	if r.Removed.Snapshots != 2 || r.Kept.Snapshots != 2 {
		t.Fatalf("totals kept %+v removed %+v", r.Kept, r.Removed)
	}
}

func TestPins(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 2)
	if _, err := backup.PinSnapshot(ctx, st, "20990101T000000.000Z", "x", "", forgetNow); !errors.Is(err, backup.ErrNoSnapshot) {
		t.Fatalf("pin of a missing snapshot: %v", err)
	}
	if _, err := backup.PinSnapshot(ctx, st, bm[0].ID, " ", "", forgetNow); !errors.Is(err, backup.ErrNoReason) {
		t.Fatalf("pin without reason: %v", err)
	}
	if _, err := backup.PinSnapshot(ctx, st, bm[0].ID, "audit 2026", "ops@h", forgetNow); err != nil {
		t.Fatal(err)
	}
	pins, err := backup.ListPins(ctx, st)
	if err != nil || len(pins) != 1 || pins[bm[0].ID].Reason != "audit 2026" || pins[bm[0].ID].Database != "bookmarks" {
		t.Fatalf("pins %+v, %v", pins, err)
	}
	if err := backup.Unpin(ctx, st, bm[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := backup.Unpin(ctx, st, bm[0].ID); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second unpin: %v", err)
	}
}

func TestGatherStatusPerDatabase(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 3)
	shop := nights(t, st, "shop", 2)
	putDrill(t, st, "bookmarks", bm[1], bm[0])
	if _, err := backup.PinSnapshot(ctx, st, bm[0].ID, "ticket 4711", "ops@h", forgetNow); err != nil {
		t.Fatal(err)
	}
	f := backup.GatherStatus(ctx, backup.StatusOptions{Store: st, StoreName: st.String(), Now: forgetNow})
	if f.DatabasesErr != nil || len(f.Databases) != 2 {
		t.Fatalf("databases %+v, %v", f.Databases, f.DatabasesErr)
	}
	b, s := f.Databases[0], f.Databases[1]
	if b.Database != "bookmarks" || b.Snapshots != 3 || b.NewestProven != bm[1].ID || !b.Oldest.Equal(bm[0].Started) ||
		len(b.Pins) != 1 || b.Pins[0].Reason != "ticket 4711" || b.StoredBytes <= 0 {
		t.Fatalf("bookmarks: %+v", b)
	}
	if s.Database != "shop" || s.Snapshots != 2 || s.NewestProven != "" || !s.Oldest.Equal(shop[0].Started) {
		t.Fatalf("shop: %+v", s)
	}
}

// Without drill records (a store written before them), the attempt records under
// standby/ still protect: a failed attempt's serving snapshot is served and proven, an ok
// attempt's snapshot proven.
func TestForgetUsesAttemptRecords(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 6)
	serving := &backup.StandbyRecord{Database: "bookmarks", Snapshot: bm[1].ID, SourceDatabase: "bookmarks"}
	a := backup.StandbyAttempt{Database: "bookmarks", Snapshot: bm[5].ID, Error: "disk full", Serving: serving}
	b, _ := json.Marshal(a)
	if _, err := st.Put(ctx, backup.StandbyAttemptKey("bookmarks"), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	r, err := backup.Forget(ctx, backup.ForgetOptions{Store: st, Policy: retention.Policy{Last: 1}, Now: forgetNow, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		bm[0].ID: "", bm[1].ID: "last proven by the drill, served by standby bookmarks",
		bm[2].ID: "newer than the last proven", bm[5].ID: "newest snapshot, newer than the last proven, last 1 of 1",
	}
	for _, d := range r.Decisions {
		if w, ok := want[d.ID]; ok && strings.Join(d.Reasons, ", ") != w {
			t.Fatalf("%s: reasons %q, want %q", d.ID, d.Reasons, w)
		}
	}
}

// TestForgetKeepsTheCopyThatPassedItsInvariants: a run of nights refused by an invariant
// leaves the served copy, which passed its invariants, kept with that reason.
func TestForgetKeepsTheCopyThatPassedItsInvariants(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 6)
	serving := &backup.StandbyRecord{Database: "bookmarks", Snapshot: bm[1].ID, SourceDatabase: "bookmarks",
		Invariants: []backup.InvariantResult{{Name: "link_in_foreign_folder", Level: backup.InvariantOK}}}
	refused := []backup.InvariantResult{{Name: "link_in_foreign_folder", Violations: 1, Level: backup.InvariantCritical}}
	a := backup.StandbyAttempt{Database: "bookmarks", Snapshot: bm[5].ID, Error: "invariant violated", Serving: serving, Invariants: refused}
	b, _ := json.Marshal(a)
	if _, err := st.Put(ctx, backup.StandbyAttemptKey("bookmarks"), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	r, err := backup.Forget(ctx, backup.ForgetOptions{Store: st, Policy: retention.Policy{Last: 1}, Now: forgetNow, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range r.Decisions {
		if d.ID == bm[1].ID {
			if !d.Keep || !slices.Contains(d.Reasons, backup.ReasonPassedInvariants) {
				t.Fatalf("served copy: keep %v, reasons %q", d.Keep, d.Reasons)
			}
			return
		}
	}
	t.Fatal("served copy not in the decisions")
}

// TestForgetRemovesOldBaseBackupsAndWAL: the newest base backup that finished before the
// oldest kept snapshot and every newer one stay (one that was still running then does
// not count), older ones go (manifest first); WAL older than the
// oldest kept base backup's start segment goes, history files and later WAL stay; a dry
// run only reports.
func TestForgetRemovesOldBaseBackupsAndWAL(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	bm := nights(t, st, "bookmarks", 6)
	serving := &backup.StandbyRecord{Database: "bookmarks", Snapshot: bm[1].ID, SourceDatabase: "bookmarks"}
	a, _ := json.Marshal(backup.StandbyAttempt{Database: "bookmarks", Snapshot: bm[1].ID, OK: true, Serving: serving})
	if _, err := st.Put(ctx, backup.StandbyAttemptKey("bookmarks"), bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
	base := func(at time.Time, lsn string) string {
		m := backup.BaseManifest{ID: at.UTC().Format(backup.IDFormat), Started: at, Finished: at.Add(time.Minute), StartLSN: lsn, Timeline: 1}
		if at.Equal(bm[1].Started.Add(-30 * time.Second)) { // still running when snapshot 1 was taken
			m.Finished = bm[1].Started.Add(30 * time.Second)
		}
		b, _ := json.Marshal(m)
		for name, body := range map[string][]byte{"base.tar.zst": []byte("tar"), "manifest.json": b} {
			if _, err := st.Put(ctx, backup.BasePrefix+m.ID+"/"+name, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
		return m.ID
	}
	b0 := base(bm[0].Started.Add(-time.Hour), "0/3000028")
	b1 := base(bm[0].Started.Add(time.Hour), "0/5000028")
	// Started before the oldest kept snapshot (1) but finished after it: no recovery to
	// snapshot 1 can start from it, so b1 must stay.
	b1x := base(bm[1].Started.Add(-30*time.Second), "0/6000028")
	b2 := base(bm[3].Started, "0/7000028")
	wal := func(name string) {
		key := "wal/00000001/" + name
		if strings.HasSuffix(name, ".history") {
			key = "wal/history/" + name
		}
		for _, suffix := range []string{".zst", ".json"} {
			if _, err := st.Put(ctx, key+suffix, strings.NewReader(`{"name":"`+name+`"}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for seg := 3; seg <= 7; seg++ {
		wal(fmt.Sprintf("0000000100000000%08X", seg))
	}
	wal("00000002.history")

	dry, err := backup.Forget(ctx, backup.ForgetOptions{Store: st, Policy: retention.Policy{Last: 1}, Now: forgetNow, DryRun: true})
	if err != nil || dry.Physical == nil || !slices.Equal(dry.Physical.RemovedBases, []string{b0}) || dry.Physical.RemovedWAL != 0 {
		t.Fatalf("dry run: %+v, %v", dry.Physical, err)
	}
	r, err := backup.Forget(ctx, backup.ForgetOptions{Store: st, Policy: retention.Policy{Last: 1}, Now: forgetNow, Lock: &fakeLocker{}})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Physical
	if !slices.Equal(p.KeptBases, []string{b1, b1x, b2}) || !slices.Equal(p.RemovedBases, []string{b0}) ||
		p.WALBefore != "000000010000000000000005" || p.RemovedWAL != 4 {
		t.Fatalf("physical: %+v", p)
	}
	left, _ := st.List(ctx, "wal/")
	var names []string
	for _, o := range left {
		names = append(names, o.Key)
	}
	for _, gone := range []string{"000000010000000000000003", "000000010000000000000004"} {
		if strings.Contains(strings.Join(names, " "), gone) {
			t.Fatalf("%s still archived: %v", gone, names)
		}
	}
	if len(names) != 8 { // segments 5, 6, 7 and the history file, record and object each
		t.Fatalf("left in wal/: %v", names)
	}
	if bases, _ := backup.ListBaseBackups(ctx, st); len(bases) != 3 {
		t.Fatalf("%d base backups listed, want 3", len(bases))
	}
}
