package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Pins keep a snapshot whatever the retention policy says, until unpinned. A pin is its
// own small object, pins/<id>.json, never a change to the manifest: a manifest stays
// exactly the bytes the backup wrote (a later format may sign it), and a pin can be made
// or lifted while the snapshot is being read.
const PinsPrefix = "pins/"

// Pin is one pinned snapshot.
type Pin struct {
	Snapshot string    `json:"snapshot"`
	Database string    `json:"database"`
	Reason   string    `json:"reason"`
	By       string    `json:"by,omitempty"` // user@host that pinned it
	Created  time.Time `json:"created"`
}

// PinKey is where the pin of snapshot id is stored.
func PinKey(id string) string { return PinsPrefix + id + ".json" }

// ErrNoReason: a pin needs a reason, so that a later reader knows whether it may go.
var ErrNoReason = errors.New("a pin needs a reason (e.g. --reason \"ticket 4711\")")

// PinSnapshot pins complete snapshot id with reason; pinning again replaces the reason.
func PinSnapshot(ctx context.Context, st Store, id, reason, by string, now time.Time) (*Pin, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, ErrNoReason
	}
	m, err := ReadManifest(ctx, st, id)
	if err != nil {
		return nil, err
	}
	p := &Pin{Snapshot: id, Database: m.Database, Reason: reason, By: by, Created: now.UTC()}
	if err := writeJSON(ctx, st, PinKey(id), p); err != nil {
		return nil, fmt.Errorf("write pin %s: %w", id, err)
	}
	return p, nil
}

// Unpin removes the pin of snapshot id; it reports fs.ErrNotExist when there is none.
func Unpin(ctx context.Context, st Store, id string) error {
	if _, err := st.Stat(ctx, PinKey(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("snapshot %s is not pinned: %w", id, fs.ErrNotExist)
		}
		return err
	}
	if err := st.Delete(ctx, PinKey(id)); err != nil {
		return fmt.Errorf("remove pin %s: %w", id, err)
	}
	return nil
}

// ListPins reads every pin in the store, by snapshot id.
func ListPins(ctx context.Context, st Store) (map[string]*Pin, error) {
	objs, err := st.List(ctx, PinsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list pins: %w", err)
	}
	pins := make(map[string]*Pin, len(objs))
	for _, o := range objs {
		p, err := readPin(ctx, st, o.Key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // unpinned meanwhile
		}
		if err != nil {
			return nil, err
		}
		pins[p.Snapshot] = p
	}
	return pins, nil
}

func readPin(ctx context.Context, st Store, key string) (*Pin, error) {
	return readRecord[Pin](ctx, st, key, 1<<20, "pin", " (forget refuses to run until it is fixed or removed)")
}

// pinned reports whether snapshot id is pinned now (forget asks again right before it
// removes a snapshot, so a pin made during the run still counts).
func pinned(ctx context.Context, st Store, id string) (bool, error) {
	_, err := st.Stat(ctx, PinKey(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
