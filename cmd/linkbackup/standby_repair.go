package main

import (
	"context"
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
		st, id, err := a.openSnapshot(ctx, args)
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
