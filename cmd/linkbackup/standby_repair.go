package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/linkagogo/linkbackup/backup"
)

// runStandbyRepair is `standby --repair`: reopen the serving copy (and its previous
// copy) that an interrupted swap left closed to connections.
func runStandbyRepair(ctx context.Context, a *app, args []string) error {
	c := a.cfg
	name := c.Standby.Database
	if name == "" {
		st, id, err := a.openStandbySnapshot(ctx, args)
		if err != nil {
			return fmt.Errorf("serving name (from the snapshot, --database not set): %w", err)
		}
		m, err := backup.ReadManifest(ctx, st, id)
		if err != nil {
			return err
		}
		name = m.Database
	}
	reopened, err := backup.RepairStandby(ctx, string(c.Standby.Server), name, a.log)
	if err != nil {
		return err
	}
	if len(reopened) == 0 {
		fmt.Fprintf(a.stdout, "standby %s accepts connections; nothing to repair\n", name)
		return nil
	}
	fmt.Fprintf(a.stdout, "reopened to connections: %s\n", strings.Join(reopened, ", "))
	return nil
}

// openStandbySnapshot resolves the snapshot a standby refresh means. "latest" and a date
// are of the configured source's database; without a source, of the serving name's
// (standby.database, which defaults to the snapshot's database) when the store has
// snapshots of it, else of the only database in the store (refused if several).
func (a *app) openStandbySnapshot(ctx context.Context, args []string) (backup.Store, string, error) {
	c := a.cfg
	if sourceDatabase(c) != "" || c.Standby.Database == "" {
		return a.openSnapshot(ctx, args)
	}
	st, id, err := a.openSnapshotOf(ctx, args, c.Standby.Database)
	if errors.Is(err, backup.ErrNoSnapshot) {
		return a.openSnapshot(ctx, args)
	}
	return st, id, err
}
