package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/linkagogo/linkbackup/backup/retention"
)

// ForgetPrefix holds the intent records of forget runs: forget/<run>.json lists the
// snapshots a run is removing. It is deleted when every object of them is gone, so a
// record left behind names snapshots whose remainder the next run removes.
const ForgetPrefix = "forget/"

type forgetIntent struct {
	Run       string   `json:"run"`
	Snapshots []string `json:"snapshots"`
}

// finishEarlier removes what interrupted earlier runs left: the objects of snapshots
// named in their intent records that no longer have a manifest.
func (o *ForgetOptions) finishEarlier(ctx context.Context, inv *inventory, r *ForgetReport) error {
	objs, err := o.Store.List(ctx, ForgetPrefix)
	if err != nil {
		return fmt.Errorf("list forget intent records: %w", err)
	}
	for _, obj := range objs {
		in, err := readIntent(ctx, o.Store, obj.Key)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		clean := true
		for _, id := range in.Snapshots {
			if inv.complete[id] || len(inv.keys[id]) == 0 {
				continue // still complete (the plan decides again), or already gone
			}
			o.Log.Info("finishing the removal of a snapshot an earlier forget made invisible", "snapshot", id, "run", in.Run)
			if o.deleteObjects(ctx, id, inv.keys[id], &recorder{r: r}) {
				r.Finished = append(r.Finished, id)
			} else {
				clean = false
			}
		}
		if clean {
			if err := o.Store.Delete(ctx, obj.Key); err != nil {
				o.Log.Warn("cannot delete a finished forget intent record; the next run retries", "key", obj.Key, "err", err)
			}
		}
	}
	return nil
}

// remove deletes the snapshots the plan removes, manifest first.
func (o *ForgetOptions) remove(ctx context.Context, inv *inventory, r *ForgetReport) error {
	var ids []string
	for _, d := range r.Decisions {
		if !d.Keep {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	in := forgetIntent{Run: o.clock().UTC().Format(IDFormat), Snapshots: ids}
	key := ForgetPrefix + in.Run + ".json"
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if _, err := o.Store.Put(ctx, key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("write forget intent record: %w (nothing removed)", err)
	}
	// Snapshots are removed o.Jobs at a time, each manifest first; a crash leaves at most
	// that many invisible remainders, all named by the intent record.
	rec := &recorder{r: r}
	var clean atomic.Bool
	clean.Store(true)
	var g errgroup.Group
	g.SetLimit(o.Jobs)
	var unreached []*retention.Decision
	for i := range r.Decisions {
		d := &r.Decisions[i]
		switch {
		case d.Keep:
		case ctx.Err() != nil:
			unreached = append(unreached, d)
		default:
			g.Go(func() error {
				if !o.removeOne(ctx, d, inv.keys[d.ID], rec) {
					clean.Store(false)
				}
				return nil
			})
		}
	}
	g.Wait()
	for _, d := range unreached {
		rec.keepAfterAll(d, "not reached: the run was interrupted")
	}
	r.Kept, r.Removed = r.Plan.Totals()
	if err := ctx.Err(); err != nil {
		return err
	}
	if clean.Load() {
		if err := o.Store.Delete(ctx, key); err != nil {
			o.Log.Warn("cannot delete this run's forget intent record; the next run removes it", "key", key, "err", err)
		}
	}
	return nil
}

// recorder collects what the parallel removals report.
type recorder struct {
	mu sync.Mutex
	r  *ForgetReport
}

func (rec *recorder) failed(id, key string, err error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.Failures = append(rec.r.Failures, DeleteFailure{Snapshot: id, Key: key, Error: err.Error()})
}

// keepAfterAll turns a removal into a keep: the snapshot is still complete.
func (rec *recorder) keepAfterAll(d *retention.Decision, reason string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	d.Keep, d.Reasons = true, []string{reason}
	rec.r.NotRemoved = append(rec.r.NotRemoved, d.ID)
}

// removeOne removes snapshot d: it reports false when objects are left behind.
func (o *ForgetOptions) removeOne(ctx context.Context, d *retention.Decision, keys []string, rec *recorder) bool {
	switch pin, err := pinned(ctx, o.Store, d.ID); {
	case err != nil:
		rec.keepAfterAll(d, "cannot check its pin: "+err.Error())
		return true
	case pin:
		rec.keepAfterAll(d, "pinned during this run")
		return true
	}
	if err := o.Store.Delete(ctx, ManifestKey(d.ID)); err != nil {
		rec.failed(d.ID, ManifestKey(d.ID), err)
		rec.keepAfterAll(d, "the store refused to delete the manifest: the snapshot stays complete")
		o.Log.Warn("the store refused to delete a manifest; the snapshot stays complete", "snapshot", d.ID, "err", err)
		return true
	}
	o.Log.Info("removed snapshot", "snapshot", d.ID, "database", d.Database, "objects", len(keys)+1)
	return o.deleteObjects(ctx, d.ID, keys, rec)
}

// deleteObjects deletes keys in parallel, recording each refusal; false when any failed.
func (o *ForgetOptions) deleteObjects(ctx context.Context, id string, keys []string, rec *recorder) bool {
	var ok atomic.Bool
	ok.Store(true)
	var g errgroup.Group
	g.SetLimit(o.Jobs)
	for _, k := range keys {
		g.Go(func() error {
			if err := o.Store.Delete(ctx, k); err != nil {
				ok.Store(false)
				rec.failed(id, k, err)
			}
			return nil
		})
	}
	g.Wait()
	return ok.Load()
}

// uploadAborter is implemented by stores with multipart uploads (backup/s3).
type uploadAborter interface {
	AbortIncompleteUploads(ctx context.Context, olderThan time.Duration) (int, error)
}

// cleanup removes incomplete snapshots and aborts incomplete uploads older than OrphanAge.
func (o *ForgetOptions) cleanup(ctx context.Context, r *ForgetReport) {
	if o.OrphanAge < 0 {
		return
	}
	if err := CleanOrphans(ctx, o.Store, o.OrphanAge, o.clock(), o.Log); err != nil {
		r.OrphanError = err.Error()
		o.Log.Warn("orphan cleanup failed", "err", err)
	}
	for st := o.Store; st != nil; {
		if a, ok := st.(uploadAborter); ok {
			n, err := a.AbortIncompleteUploads(ctx, o.OrphanAge)
			r.UploadsAborted = n
			if err != nil {
				r.UploadsError = err.Error()
				o.Log.Warn("cannot abort incomplete uploads", "err", err)
			}
			return
		}
		u, ok := st.(Unwrapper)
		if !ok {
			return
		}
		st = u.Unwrap()
	}
}

func readIntent(ctx context.Context, st Store, key string) (*forgetIntent, error) {
	return readRecord[forgetIntent](ctx, st, key, 16<<20, "forget intent record", "")
}
