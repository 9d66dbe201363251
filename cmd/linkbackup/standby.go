package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/member"
	"github.com/linkagogo/linkbackup/internal/clihint"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

const standbyHelp = `Refresh the standby (the failover target) from a snapshot (default: latest).

The snapshot is restored into a side database <db>__incoming on the standby server and
every table is proven equal to the manifest (row count and row digest). Only then is
it swapped in, in one transaction: <db> becomes <db>__previous (the one previous copy
kept; the older one is dropped) and <db>__incoming becomes <db>. New sessions to the old
copy are refused during the swap; running ones get --grace to finish, then are
terminated. So <db> always holds a complete, verified copy.

The older <db>__previous, and a <db>__incoming a failed night left, are dropped only
when they carry linkbackup's mark and no other session is on them: with sessions the
refresh fails (exit 1, naming their users and applications) and terminates nobody;
without the mark it refuses (exit 4). To serve from <db>__previous, clear its mark first
(COMMENT ON DATABASE <db>__previous IS NULL).

Any failure before the swap (PostgreSQL killed, corrupted object, digest mismatch, disk
full) leaves <db> serving its previous copy untouched; the side database is dropped (or,
if the server is gone, left marked and dropped by the next run).

Before the swap, the drill's invariants (drill.invariants; by default the reference
bookmark schema's: a link in another member's folder, a folder under another member's
folder, folder cycles, deleted members still mailed, and any table losing more than
drill.row_drop_percent of its rows overnight) run read-only on <db>__incoming. A count
that grew since the served copy, or any violation of an always_critical check, or a
check that fails or hits its time limit, keeps <db> on its previous copy (exit 6); a
steady count is a warning and the swap goes ahead. Results name the check and a few row
ids, never row content, and go into the readiness record.

A swap interrupted after it closed the old copy to new sessions (ALLOW_CONNECTIONS
false) leaves it refusing connections; status reports that as CRITICAL. --repair
reopens the serving copy and <db>__previous (only copies carrying the standby mark) and
restores nothing; the next refresh does the same before it starts. With --repair the
store is read only to learn the serving name when --database is not set.

Readiness is recorded as COMMENT ON DATABASE <db> on the standby (snapshot id, source
time, verified time, tool version) and, with the outcome of every attempt, in the store
under standby/<db>.json: ` + "`linkbackup status`" + ` reads both. A copy marked this way refuses
to be backed up into a store by mistake.

--standby is a DSN to a maintenance database on the standby server (e.g. postgres), not
the standby copy itself. Put its password in PGPASSWORD or ~/.pgpass.

Exit codes:
  0    swapped: <db> serves the snapshot, proven
  1    failed: <db> keeps serving its previous copy (the message says why; also when
       <db>__previous or a leftover <db>__incoming has sessions)
  2    usage error
  4    refused (e.g. --standby names the serving database, the standby server is the
       snapshot's own source or cannot be told apart from it because pg_control_system()
       is unreadable, or a side copy has no linkbackup mark): nothing was changed
  5    proof mismatch (tables named): <db> keeps serving its previous copy
  6    an invariant refused the copy (named, with row ids): <db> keeps serving its
       previous copy
  130  interrupted`

func newStandbyCmd(a *app) *cobra.Command {
	var noOwner, forceSame, asJSON, repair bool
	cmd := &cobra.Command{
		Use:   "standby [ID|latest] --store URL --standby DSN [--database NAME] [--grace 30s] [--jobs N]",
		Short: "Restore a snapshot into the standby, prove it, and swap it in atomically",
		Long:  standbyHelp,
		Args:  maxArgsUsage(1),
		RunE: bounded(a, func(cmd *cobra.Command, args []string) error {
			c := a.cfg
			if c.Standby.Server == "" {
				return usageError(errors.New("no standby server: set --standby DSN, LINKBACKUP_STANDBY_SERVER or standby.server in the config file"))
			}
			ctx := cmd.Context()
			if repair {
				return runStandbyRepair(ctx, a, args)
			}
			if c.Store == "" {
				return errNoStore
			}
			st, id, err := a.openStandbySnapshot(ctx, args)
			if err != nil {
				return err
			}
			if _, err := a.keys(); err != nil {
				return err
			}
			progress := &backup.Progress{}
			stop := showProgress(ctx, a.stderr, "standby", progress)
			o := standbyOptions(c, st, id, a)
			o.NoOwner, o.ForceSameCluster, o.Progress = noOwner, forceSame, progress
			rec, err := backup.RefreshStandby(ctx, o)
			stop()
			var ie *backup.InvariantsError
			if errors.As(err, &ie) {
				if asJSON {
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					enc.Encode(struct {
						OK         bool                     `json:"ok"`
						Error      string                   `json:"error"`
						Invariants []backup.InvariantResult `json:"invariants"`
					}{false, clihint.Message(err), ie.Results})
				} else {
					writeInvariants(a.stdout, ie.Results)
				}
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rec)
			}
			writeStandbyRecord(a.stdout, rec)
			return nil
		}),
	}
	f := cmd.Flags()
	f.String("store", "", "store URL ($LINKBACKUP_STORE)")
	f.String("standby", "", "DSN of the standby server, on a maintenance database such as postgres ($LINKBACKUP_STANDBY_SERVER)")
	f.String("database", "", "serving database name on the standby (default: the snapshot's database) ($LINKBACKUP_STANDBY_DATABASE)")
	f.Duration("grace", 0, "how long sessions on the old copy may finish before the swap terminates them")
	f.Int("jobs", 0, "parallel restore sessions ($LINKBACKUP_STANDBY_JOBS)")
	f.String("tablespace", "", "tablespace for the standby copies (default: the server's) ($LINKBACKUP_STANDBY_TABLESPACE)")
	f.BoolVar(&noOwner, "no-owner", false, "leave out ALTER ... OWNER TO (objects belong to the restoring role)")
	f.BoolVar(&forceSame, "force-same-cluster", false, "allow a standby on the snapshot's own source cluster (test setups only)")
	f.BoolVar(&asJSON, "json", false, "print the readiness record as JSON")
	f.BoolVar(&repair, "repair", false, "only reopen the serving copy (and <db>__previous) to connections after an interrupted swap; restores nothing")
	f.Duration("deadline", 0, "stop the run cleanly after this long, saying which step it was at (default 3h; 0: none)")
	a.bind(cmd, "deadline", "deadline")
	a.bind(cmd, "store", "store")
	a.bind(cmd, "standby", "standby.server")
	a.bind(cmd, "database", "standby.database")
	a.bind(cmd, "grace", "standby.grace")
	a.bind(cmd, "jobs", "standby.jobs")
	addKeyFlags(cmd, a, false, true)
	a.bind(cmd, "tablespace", "standby.tablespace")
	return cmd
}

func writeStandbyRecord(w io.Writer, r *backup.StandbyRecord) {
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
	fmt.Fprintf(w, "standby %s now serves snapshot %s (source database %s, taken %s)\n", r.Database, r.Snapshot, r.SourceDatabase, ts(r.SourceTime))
	fmt.Fprintf(w, "verified %s: %d tables, %d rows proven equal to the snapshot\n", ts(r.Verified), r.Tables, r.Rows)
	fmt.Fprintf(w, "restore %.2fs (restore + proof), swap %.2fs; the copy it replaced, if any, is %s%s\n",
		r.RestoreSeconds, r.SwapSeconds, r.Database, backup.PreviousSuffix)
	if r.Identity != "" {
		fmt.Fprintf(w, "decrypted with identity %s: the key works\n", r.Identity)
	}
	writeInvariants(w, r.Invariants)
}

// writeInvariants prints one line per invariant result (nothing for none).
func writeInvariants(w io.Writer, rs []backup.InvariantResult) {
	for _, r := range rs {
		fmt.Fprintf(w, "invariant %-8s %s (%d ms)\n", r.Level, r.String(), r.Millis)
	}
}

// standbyOptions are the options of a standby refresh built from the config (standby and nightly).
func standbyOptions(c Config, st backup.Store, id string, a *app) backup.StandbyOptions {
	return backup.StandbyOptions{Hint: clihint.Text, Keys: a.keyring, Store: st, ID: id, Server: string(c.Standby.Server), Database: c.Standby.Database,
		Jobs: c.Standby.Jobs, Grace: c.Standby.Grace, Tablespace: c.Standby.Tablespace, ToastCompression: c.Standby.ToastCompression, ToolVersion: toolVersion(), Log: a.log,
		Drill: drillOptions(c)}
}

// drillOptions are the invariant checks configured in drill.* (standby, nightly, check).
func drillOptions(c Config) backup.DrillOptions {
	return backup.DrillOptions{Invariants: c.Drill.Invariants, Timeout: c.Drill.Timeout, Defaults: member.ReferenceInvariants,
		RowDropPercent: c.Drill.RowDropPercent, RowDropMinRows: c.Drill.RowDropMinRows}
}

// validateInvariantsOn parses and plans invs on the database behind dsn (nothing runs);
// a failure is a usage error naming the invariant.
func validateInvariantsOn(ctx context.Context, dsn string, invs []backup.Invariant) error {
	cfg, err := backup.ConnConfig(dsn, "linkbackup-check")
	if err != nil {
		return usageError(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", pgdsn.Strip(dsn), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := backup.ValidateInvariants(ctx, conn, invs); err != nil {
		return usageError(fmt.Errorf("drill.invariants: %w", err))
	}
	return nil
}
