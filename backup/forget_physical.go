package backup

import (
	"context"
	"path"
	"strings"
	"time"
)

// PhysicalRemoval is what forget decided for base backups and archived WAL.
type PhysicalRemoval struct {
	// KeptBases / RemovedBases: base backup ids. The newest base backup that finished
	// before the oldest kept snapshot is kept (recovery, and the point-in-time proof of
	// that snapshot, can reach back that far), with every newer one.
	KeptBases    []string `json:"kept_base_backups,omitempty"`
	RemovedBases []string `json:"removed_base_backups,omitempty"`
	// WALBefore: archived WAL older than this segment (the oldest kept base backup's
	// start) was removed; RemovedWAL counts the files.
	WALBefore  string `json:"wal_removed_before,omitempty"`
	RemovedWAL int    `json:"removed_wal_files"`
}

// forgetPhysical removes base backups no kept snapshot's time needs, and the WAL older
// than the oldest kept base backup (a prefix of the archive: never a gap inside what is
// kept). Without base backups the WAL is left alone. Manifests and records go first.
func (o *ForgetOptions) forgetPhysical(ctx context.Context, r *ForgetReport) error {
	var oldest time.Time
	for _, d := range r.Decisions {
		if d.Keep && (oldest.IsZero() || d.Time.Before(oldest)) {
			oldest = d.Time
		}
	}
	bases, err := ListBaseBackups(ctx, o.Store)
	if err != nil || len(bases) == 0 || oldest.IsZero() {
		return err
	}
	// A recovery to a snapshot's point (the nightly proof, restore --to-time) starts
	// from a base backup that finished before it.
	keepFrom := 0 // bases are oldest first
	for i, b := range bases {
		if !b.Finished.After(oldest) {
			keepFrom = i
		}
	}
	pr := &PhysicalRemoval{}
	for i, b := range bases {
		if i >= keepFrom {
			pr.KeptBases = append(pr.KeptBases, b.ID)
		} else {
			pr.RemovedBases = append(pr.RemovedBases, b.ID)
		}
	}
	kept := bases[keepFrom]
	start, err := StartSegment(kept.Timeline, kept.StartLSN)
	if err != nil {
		return err
	}
	pr.WALBefore = start
	r.Physical = pr
	if o.DryRun {
		return nil
	}
	rec := &recorder{r: r}
	for _, id := range pr.RemovedBases {
		prefix := BasePrefix + id + "/"
		if err := o.Store.Delete(ctx, prefix+ManifestName); err != nil {
			rec.failed("base "+id, prefix+ManifestName, err)
			continue
		}
		for _, name := range []string{SignatureName, "base.tar.zst"} {
			if err := o.Store.Delete(ctx, prefix+name); err != nil {
				rec.failed("base "+id, prefix+name, err)
			}
		}
	}
	objs, err := o.Store.List(ctx, WALPrefix)
	if err != nil {
		return err
	}
	// Records first, so that a file never looks archived without its content.
	for _, suffix := range []string{".json", ".zst"} {
		for _, obj := range objs {
			name, ok := strings.CutSuffix(path.Base(obj.Key), suffix)
			if !ok || !walBefore(name, start) {
				continue
			}
			if err := o.Store.Delete(ctx, obj.Key); err != nil {
				rec.failed("wal", obj.Key, err)
				continue
			}
			pr.RemovedWAL++
		}
	}
	return nil
}

// walBefore tells whether archived file name holds only WAL older than segment start:
// a segment (or .backup/.partial file) of an older timeline, or of start's timeline
// with a lower number. Timeline history files are always kept.
func walBefore(name, start string) bool {
	if strings.HasSuffix(name, ".history") || len(name) < 24 {
		return false
	}
	tl, n, ok := segmentNumber(name[:24])
	stl, sn, _ := segmentNumber(start)
	if !ok {
		return false
	}
	return tl < stl || (tl == stl && n < sn)
}
