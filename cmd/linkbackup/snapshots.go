package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
)

// snapshotSummary is one line of `linkbackup snapshots`.
type snapshotSummary struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Database    string    `json:"database"`
	Server      string    `json:"server_version"`
	AppVersion  string    `json:"app_version,omitempty"`
	Tables      int       `json:"tables"`
	Rows        int64     `json:"rows"`
	RawBytes    int64     `json:"raw_bytes"`
	StoredBytes int64     `json:"stored_bytes"`
	Seconds     float64   `json:"seconds"`
	// Recipients are the fingerprints the content is encrypted to (none: plaintext);
	// SignedBy the signing key's (none: unsigned).
	Recipients []string `json:"recipients,omitempty"`
	SignedBy   string   `json:"signed_by,omitempty"`
	// Pin is set when the snapshot is pinned (linkbackup pin): forget keeps it.
	Pin *backup.Pin `json:"pin,omitempty"`
}

func newSnapshotsCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "snapshots --store URL [--json]",
		Short: "List the complete snapshots in a store, oldest first",
		Long: `List the complete snapshots (those with a manifest) in a store, oldest first:
id, time, database, tables, rows, bytes, and the pin (reason) of pinned ones.
Incomplete snapshots are never listed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.Store == "" {
				return errNoStore
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, a.cfg.Store, a.log)
			if err != nil {
				return err
			}
			ms, err := backup.ListSnapshots(ctx, st)
			if err != nil {
				return err
			}
			pins, err := backup.ListPins(ctx, st)
			if err != nil {
				return err
			}
			list := make([]snapshotSummary, 0, len(ms))
			for _, m := range ms {
				list = append(list, snapshotSummary{ID: m.ID, Time: m.Started, Database: m.Database,
					Server: m.Server.Version, AppVersion: m.AppVersion, Tables: m.Totals.Tables, Rows: m.Totals.Rows,
					RawBytes: m.Totals.RawBytes, StoredBytes: m.Totals.StoredBytes,
					Seconds: m.Finished.Sub(m.Started).Seconds(), Recipients: m.Recipients, SignedBy: m.SignedBy, Pin: pins[m.ID]})
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(a.stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME (UTC)\tDATABASE\tTABLES\tROWS\tRAW\tSTORED\tPINNED")
			for _, s := range list {
				pin := "-"
				if s.Pin != nil {
					pin = s.Pin.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", s.ID, s.Time.UTC().Format("2006-01-02 15:04:05"),
					s.Database, s.Tables, s.Rows, backup.HumanBytes(s.RawBytes), backup.HumanBytes(s.StoredBytes), pin)
			}
			if len(list) == 0 {
				fmt.Fprintf(tw, "(no complete snapshots in %s)\n", st)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().String("store", "", "store URL ($LINKBACKUP_STORE)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	a.bind(cmd, "store", "store")
	return cmd
}
