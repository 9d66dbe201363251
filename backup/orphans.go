package backup

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// removePartial deletes the objects of a failed snapshot (it has no manifest, so it is
// invisible already; this only frees space).
func removePartial(ctx context.Context, st Store, prefix string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	objs, err := st.List(ctx, prefix)
	if err != nil {
		log.Warn("cannot list partial snapshot for removal; the next backup cleans it up", "prefix", prefix, "err", err)
		return
	}
	for _, o := range objs {
		if err := st.Delete(ctx, o.Key); err != nil {
			log.Warn("cannot remove partial object; the next backup cleans it up", "key", o.Key, "err", err)
			return
		}
	}
}

// CleanOrphans deletes incomplete snapshots (objects under snapshots/<id>/ without a
// manifest) whose newest object is older than age. age < 0 disables it.
func CleanOrphans(ctx context.Context, st Store, age time.Duration, now time.Time, log *slog.Logger) error {
	if age < 0 {
		return nil
	}
	objs, err := st.List(ctx, SnapshotsPrefix)
	if err != nil {
		return err
	}
	type snap struct {
		keys     []string
		manifest bool
		newest   time.Time
	}
	snaps := map[string]*snap{}
	var order []string
	for _, o := range objs {
		id, name, ok := strings.Cut(strings.TrimPrefix(o.Key, SnapshotsPrefix), "/")
		if !ok {
			continue
		}
		s := snaps[id]
		if s == nil {
			s = &snap{}
			snaps[id] = s
			order = append(order, id)
		}
		s.keys = append(s.keys, o.Key)
		s.manifest = s.manifest || name == ManifestName
		if o.ModTime.After(s.newest) {
			s.newest = o.ModTime
		}
	}
	for _, id := range order {
		s := snaps[id]
		if s.manifest || now.Sub(s.newest) < age {
			continue
		}
		log.Info("removing incomplete snapshot (no manifest)", "snapshot", id, "objects", len(s.keys))
		for _, k := range s.keys {
			if err := st.Delete(ctx, k); err != nil {
				return fmt.Errorf("remove orphan %s: %w", k, err)
			}
		}
	}
	return nil
}
