package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/clihint"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

const checkHelp = `Run the drill's invariants (drill.invariants, or the reference bookmark schema's
when the database has it) read-only against any database: production when members
report strange links, a restored copy, the standby. The same checks, output and exit
codes as the nightly drill.

With a store (--store) that holds a standby record for --database (default: the target
database's name), counts are judged against the copy the standby serves: a count that
grew is critical, a steady one a warning, and tables are checked for row drops. Without
one, every violation is a warning unless its check is always_critical (there is nothing
to compare with). Results name the check and a few row ids, never row content.

Exit codes:
  0    every invariant holds or is steady (warnings are printed)
  1    the target or the store could not be read
  2    usage error, or an invariant's SQL does not parse on the target
  6    an invariant is critical or failed (it is named, with row ids)`

func newCheckCmd(a *app) *cobra.Command {
	var target, database string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check --target DSN [--store URL [--database NAME]] [--json]",
		Short: "Run the drill's invariants against any database",
		Long:  checkHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				return usageError(errors.New("no target: set --target DSN (the database to check)"))
			}
			ctx := cmd.Context()
			warnPlaintextDSN(a.log, "target", target)
			baseline, err := a.checkBaseline(cmd, target, database)
			if err != nil {
				return err
			}
			results, err := backup.CheckDatabase(ctx, target, drillOptions(a.cfg), baseline)
			if err != nil {
				return err
			}
			verdict := backup.InvariantError(results)
			if asJSON {
				out := struct {
					Target     string                   `json:"target"`
					OK         bool                     `json:"ok"`
					Level      string                   `json:"level"`
					Baseline   string                   `json:"baseline,omitempty"`
					Invariants []backup.InvariantResult `json:"invariants"`
				}{pgdsn.Strip(target), verdict == nil, backup.WorstInvariant(results), "", results}
				if baseline != nil {
					out.Baseline = "standby copy of snapshot " + baseline.Snapshot
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "checked %s: %d invariants, %s\n", pgdsn.Strip(target), len(results), backup.WorstInvariant(results))
				writeInvariants(a.stdout, results)
			}
			if verdict != nil {
				return verdict
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "", "DSN of the database to check")
	f.String("store", "", "store whose standby record is the baseline ($LINKBACKUP_STORE)")
	f.StringVar(&database, "database", "", "serving database name of that record (default: the target's database name)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	a.bind(cmd, "store", "store")
	return cmd
}

// checkBaseline is the record of the copy the standby serves for database (from the
// store's last attempt), or nil without a store or a record.
func (a *app) checkBaseline(cmd *cobra.Command, target, database string) (*backup.StandbyRecord, error) {
	if a.cfg.Store == "" {
		return nil, nil
	}
	ctx := cmd.Context()
	st, err := openStore(ctx, a.cfg.Store, a.log)
	if err != nil {
		return nil, err
	}
	if database == "" {
		cfg, err := backup.ConnConfig(target, "linkbackup-check")
		if err != nil {
			return nil, usageError(err)
		}
		database = cfg.Database
	}
	att, err := backup.ReadStandbyAttempt(ctx, st, database)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		a.log.Info("no standby record in the store: invariants judged without a baseline", "database", database)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the standby record: %s", clihint.Message(err))
	}
	return att.Serving, nil
}
