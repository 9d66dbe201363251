package backup

import (
	"context"
	"slices"
	"strings"
	"time"
)

// DatabaseStatus is what the store holds of one database: what retention leaves and
// what an operator can still restore.
type DatabaseStatus struct {
	Database    string `json:"database"`
	Snapshots   int    `json:"snapshots"`
	StoredBytes int64  `json:"stored_bytes"` // every object of its complete snapshots
	// Oldest is the start of the oldest complete snapshot: the oldest point restorable.
	Oldest time.Time `json:"oldest_restorable"`
	// NewestProven is the newest snapshot a standby drill proved ("" = none).
	NewestProven     string     `json:"newest_proven,omitempty"`
	NewestProvenTime *time.Time `json:"newest_proven_time,omitempty"`
	Pins             []Pin      `json:"pins,omitempty"`
}

// gatherDatabases reads the per-database facts of the store: one List of snapshots/,
// the manifests, the drill records and the pins.
func gatherDatabases(ctx context.Context, st Store) ([]DatabaseStatus, error) {
	inv, err := readInventory(ctx, st, 8)
	if err != nil {
		return nil, err
	}
	drills, err := ReadDrillFacts(ctx, st)
	if err != nil {
		return nil, err
	}
	pins, err := ListPins(ctx, st)
	if err != nil {
		return nil, err
	}
	byDB := map[string]*DatabaseStatus{}
	for _, s := range inv.snaps {
		d := byDB[s.Database]
		if d == nil {
			d = &DatabaseStatus{Database: s.Database, Oldest: s.Time.UTC()}
			byDB[s.Database] = d
		}
		d.Snapshots++
		d.StoredBytes += s.Bytes
		if s.Time.Before(d.Oldest) {
			d.Oldest = s.Time.UTC()
		}
		if drills.Proven[s.ID] && (d.NewestProvenTime == nil || s.Time.After(*d.NewestProvenTime)) {
			t := s.Time.UTC()
			d.NewestProven, d.NewestProvenTime = s.ID, &t
		}
		if p := pins[s.ID]; p != nil {
			d.Pins = append(d.Pins, *p)
		}
	}
	out := make([]DatabaseStatus, 0, len(byDB))
	for _, d := range byDB {
		slices.SortFunc(d.Pins, func(a, b Pin) int { return strings.Compare(a.Snapshot, b.Snapshot) })
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DatabaseStatus) int { return strings.Compare(a.Database, b.Database) })
	return out, nil
}
