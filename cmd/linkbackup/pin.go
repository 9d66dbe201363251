package main

import (
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
)

func newPinCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "pin ID|latest|YYYY-MM-DD --reason TEXT --store URL",
		Short: "Keep a snapshot whatever the retention policy says, until unpinned",
		Long: `Pin a snapshot: forget never removes it, and lists the reason ("pinned: TEXT") in
its decision table; ` + "`linkbackup snapshots`" + ` shows the pins. A pin never expires by
itself: ` + "`linkbackup unpin ID`" + ` lifts it. Pinning again replaces the reason. The pin is its
own object in the store (pins/<id>.json); the manifest is never changed.

Exit codes: 0 pinned; 1 no such snapshot or the store failed; 2 usage (no --reason).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return usageError(backup.ErrNoReason)
			}
			ctx := cmd.Context()
			st, id, err := a.openSnapshot(ctx, args)
			if err != nil {
				return err
			}
			p, err := backup.PinSnapshot(ctx, st, id, reason, whoAmI(), time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "pinned %s (%s): %s\n", p.Snapshot, p.Database, p.Reason)
			return err
		},
	}
	cmd.Flags().String("store", "", "store URL ($LINKBACKUP_STORE)")
	cmd.Flags().StringVar(&reason, "reason", "", "why it must stay (e.g. \"ticket 4711\"); required")
	a.bind(cmd, "store", "store")
	return cmd
}

func newUnpinCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unpin ID --store URL",
		Short: "Lift a snapshot's pin; the retention policy decides about it again",
		Long: `Remove the pin of snapshot ID (the exact id, as ` + "`linkbackup snapshots`" + ` lists it).
The next forget decides about the snapshot by the policy and the other protections.

Exit codes: 0 unpinned; 1 the snapshot is not pinned or the store failed; 2 usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.cfg.Store == "" {
				return errNoStore
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, a.cfg.Store, a.log)
			if err != nil {
				return err
			}
			if err := backup.Unpin(ctx, st, args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "unpinned %s\n", args[0])
			return err
		},
	}
	cmd.Flags().String("store", "", "store URL ($LINKBACKUP_STORE)")
	a.bind(cmd, "store", "store")
	return cmd
}

// whoAmI names the operator for the pin record: user@host.
func whoAmI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
