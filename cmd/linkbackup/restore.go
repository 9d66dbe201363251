package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/linkagogo/linkbackup/internal/clihint"
	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/linkagogo/linkbackup/backup/member"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
)

// maxArgsUsage is cobra.MaximumNArgs whose error is a usage error (exit 2).
func maxArgsUsage(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return usageError(cobra.MaximumNArgs(n)(cmd, args))
	}
}

const restoreHelp = `Restore a snapshot (default: latest; or an id, or YYYY-MM-DD for the newest snapshot
of that UTC day) into a PostgreSQL database that already exists (createdb it first).

The pre-data schema goes first, then table data in parallel (COPY FROM STDIN, --jobs
sessions, every object's SHA-256 checked while streaming), then indexes and primary and
unique keys in parallel, then the proof: every table's row count and row digest
recomputed from the target (large tables in parallel ranges) and compared with the
manifest, while triggers and foreign keys are added. Any difference fails the restore
and names the table. Then sequences, materialized views and ANALYZE.

Safety rails (each refuses before anything is changed, exit 4):
  - the target is the snapshot's own source (same system identifier and database):
    pass --force-same-cluster if you really mean to overwrite production. When the
    target's system identifier (pg_control_system()) cannot be read, or the snapshot
    lacks its source's, a target database of the snapshot's name is refused the same way;
  - the target database is not empty: pass --force to DROP every schema of it first
    (with --tables: to TRUNCATE the listed tables and load them in one transaction, so
    a failed load leaves them as they were). Both schema objects are read
    and checked before anything is dropped, and the drop and the pre-data schema run in
    one transaction: a corrupt or missing snapshot leaves the target as it was;
  - the target server is older than the snapshot's: pass --allow-downgrade (warns);
  - the target holds objects outside its schemas that --force does not drop
    (publications, foreign servers, event triggers, casts, access methods, …; tried in
    a rolled-back transaction): they are named; drop them or restore into a new database;
  - with --verify-key (signing.verify_keys): the manifest's signature does not verify,
    or the snapshot is unsigned (pass --allow-unsigned for snapshots taken before
    signing was turned on); without a verify key a warning names the role the
    snapshot's SQL runs as;
  - the snapshot is encrypted and no --identity (encryption.identity_files) matches
    its recipients: the message names both sides' fingerprints.

--tables a,b restores only those tables' data into a target that already has them.

latest and YYYY-MM-DD mean the newest snapshot of one source database: --database NAME,
default the configured source's database. In a store holding snapshots of several
databases, they are refused (exit 4) when neither is set.

--member ID puts one member's rows (members, folders, links with that member id) back
into an existing bookmark database, the live one included, without touching anyone
else's rows, in one transaction. Conflicts: a row whose id still exists for the member
is kept as it is now (current wins); a missing row is inserted with its original id; a
row whose id now belongs to another member is skipped and counted; a folder or link
whose parent folder is not restored and not the member's own goes to the top level and
is counted; if the member row itself cannot be re-inserted (its email taken), nothing is
restored. --dry-run does all of it, reports, and rolls back.

--to-time T | --to-lsn L | --to-latest with --pgdata DIR is point-in-time recovery of the
whole cluster: the newest base backup (linkbackup basebackup) that finished before the
target is unpacked into the empty DIR, checked by pg_verifybackup, and set up to replay
the WAL archive (restore_command = this binary's wal-fetch); --start --port N starts it
(as the directory's owner), feeds it the WAL itself from a private spool a few segments
ahead of replay (the server then needs no keys and no store access), waits for recovery
to end and prints the point reached. A segment that cannot be fetched, checked or
decrypted aborts recovery rather than promoting early. No snapshot id is given then.
--member ID with --to-time T --target DSN recovers into a scratch directory instead,
restores that member's rows from it (same conflict rules, --dry-run) and removes it.

Put the target's password in PGPASSWORD or ~/.pgpass, not in --target.

Exit codes:
  0    restored and every table proven equal to the snapshot (member: done / dry run)
  1    failed (the message says what; the target may hold a partial restore)
  2    usage error
  4    refused by a safety rail: nothing was changed
  5    proof mismatch: restored rows differ from the snapshot (tables named)
  130  interrupted`

// restoreOutput is what --json prints.
type restoreOutput struct {
	Target  string                `json:"target"`
	OK      bool                  `json:"ok"`
	Error   string                `json:"error,omitempty"`
	Restore *backup.RestoreReport `json:"restore,omitempty"`
	Member  *member.Report        `json:"member,omitempty"`
}

// newRestoreCmd is over 80 lines only for its argument checks and flag list; the work
// is in backup.Restore, member.Restore and runRecover.
func newRestoreCmd(a *app) *cobra.Command {
	var (
		target, database                                  string
		force, forceSame, allowDowngrade, noOwner, dryRun bool
		asJSON                                            bool
		tables                                            []string
		memberID                                          int64
		rf                                                *recoverFlags
	)
	cmd := &cobra.Command{
		Use:   "restore [ID|latest|YYYY-MM-DD] --store URL --target DSN [--force] [--tables a,b] [--member ID [--dry-run]]",
		Short: "Restore a snapshot (or one member's rows) into a database and prove it",
		Long:  restoreHelp,
		Args:  maxArgsUsage(1),
		RunE: bounded(a, func(cmd *cobra.Command, args []string) error {
			c := a.cfg
			if rf.wanted(cmd) {
				if c.Store == "" {
					return errNoStore
				}
				if cmd.Flags().Changed("member") {
					return a.runMemberAsOf(cmd, rf, args, target, memberID, dryRun, asJSON)
				}
				return a.runRecover(cmd, rf, args)
			}
			memberMode := cmd.Flags().Changed("member")
			switch {
			case c.Store == "":
				return errNoStore
			case target == "":
				return usageError(errors.New("no target: set --target DSN (an existing database; createdb it first)"))
			case dryRun && !memberMode:
				return usageError(errors.New("--dry-run works with --member only"))
			case memberMode && memberID <= 0:
				return usageError(fmt.Errorf("--member %d: want a member id > 0", memberID))
			case memberMode && (force || forceSame || allowDowngrade || noOwner || len(tables) > 0):
				return usageError(errors.New("--member restores rows into an existing database and never drops or truncates: " +
					"it takes no --force, --force-same-cluster, --allow-downgrade, --no-owner or --tables"))
			}
			ctx := cmd.Context()
			st, id, err := a.openSnapshotOf(ctx, args, database)
			if err != nil {
				return err
			}
			keys, err := a.keys()
			if err != nil {
				return err
			}
			warnPlaintextDSN(a.log, "target", target)
			out := restoreOutput{Target: pgdsn.Strip(target)}
			if memberMode {
				rep, err := member.Restore(ctx, member.Options{Keys: keys, Store: st, ID: id, Target: target, MemberID: memberID,
					DryRun: dryRun, Log: a.log})
				out.Member = rep
				return a.finishRestore(out, err, asJSON)
			}
			progress := &backup.Progress{}
			stop := showProgress(ctx, a.stderr, "restore", progress)
			rep, err := backup.Restore(ctx, backup.RestoreOptions{Keys: keys, Store: st, ID: id, Target: target, Jobs: c.Backup.Jobs,
				Force: force, ForceSameCluster: forceSame, AllowDowngrade: allowDowngrade, NoOwner: noOwner, Tables: tables,
				Log: a.log, Progress: progress})
			stop()
			out.Restore = rep
			return a.finishRestore(out, err, asJSON)
		}),
	}
	f := cmd.Flags()
	f.String("store", "", "store URL ($LINKBACKUP_STORE)")
	f.StringVar(&target, "target", "", "DSN of the database to restore into (it must exist)")
	f.Duration("deadline", 0, "stop the run cleanly after this long, saying which step it was at (default 3h; 0: none)")
	a.bind(cmd, "deadline", "deadline")
	f.StringVar(&database, "database", "", "latest/YYYY-MM-DD: the newest snapshot of this source database (default: the configured source's)")
	f.BoolVar(&force, "force", false, "restore into a non-empty database: DROP its schemas first (--tables: TRUNCATE them)")
	f.BoolVar(&forceSame, "force-same-cluster", false, "allow restoring over the snapshot's own source database")
	f.BoolVar(&allowDowngrade, "allow-downgrade", false, "allow a target server older than the snapshot's source")
	f.BoolVar(&noOwner, "no-owner", false, "leave out ALTER ... OWNER TO (objects belong to the restoring role)")
	f.Int("jobs", 0, "parallel restore sessions ($LINKBACKUP_BACKUP_JOBS)")
	f.StringSliceVar(&tables, "tables", nil, "restore only these tables' data (schema.table or table), comma-separated")
	f.Int64Var(&memberID, "member", 0, "restore one member's rows (members, folders, links) into an existing database")
	f.BoolVar(&dryRun, "dry-run", false, "with --member: report what would be restored, change nothing")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	rf = addRecoverFlags(cmd)
	a.bind(cmd, "store", "store")
	a.bind(cmd, "jobs", "backup.jobs")
	addKeyFlags(cmd, a, false, true)
	return cmd
}

// finishRestore prints the report (also of a failed restore, when there is one) and maps
// the error to its exit code.
func (a *app) finishRestore(out restoreOutput, err error, asJSON bool) error {
	out.OK = err == nil
	if err != nil {
		out.Error = clihint.Message(err)
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if jerr := enc.Encode(out); jerr != nil && err == nil {
			return jerr
		}
		return err
	}
	switch {
	case out.Restore != nil:
		writeRestoreReport(a.stdout, out.Target, out.Restore, err)
	case out.Member != nil:
		writeMemberReport(a.stdout, out.Target, out.Member)
	}
	return err
}

func writeRestoreReport(w io.Writer, target string, r *backup.RestoreReport, err error) {
	fmt.Fprintf(w, "snapshot %s (database %s) restored into %s\n", r.ID, r.Database, target)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS\tPROOF")
	bad := 0
	for _, c := range r.Tables {
		proof := "ok"
		if !c.OK {
			bad++
			proof = fmt.Sprintf("MISMATCH: snapshot has %d rows, digest %s; restored digest %s", c.ManifestRows, c.ManifestDigest, c.Digest)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", c.Table, c.Rows, proof)
	}
	tw.Flush()
	if r.LargeObjects > 0 {
		fmt.Fprintf(w, "large objects: %d restored, proven (count and digest)\n", r.LargeObjects)
	}
	for _, l := range r.LeftOut {
		fmt.Fprintf(w, "left out: %s\n", l)
	}
	if bad == 0 && err == nil {
		fmt.Fprintf(w, "proven: %d tables, %d rows equal to the snapshot (row count and row digest of every table)\n", len(r.Tables), r.Rows)
	} else if bad > 0 {
		fmt.Fprintf(w, "NOT PROVEN: %d of %d tables differ from the snapshot\n", bad, len(r.Tables))
	}
	fmt.Fprintf(w, "phases:")
	for i, p := range phaseOrder(r.Phases) {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s %.2fs", sep, p, r.Phases[p])
		if b, ok := r.Phases[p+" busy"]; ok {
			fmt.Fprintf(w, " (busy %.2fs)", b)
		}
	}
	fmt.Fprintln(w)
}

// phaseOrder lists the restore phases in the order they run, unknown ones last. A whole
// restore's phases overlap (backup.RestoreReport.Phases): each is the time from the start
// of the data until its last step ended, with its session-seconds as "<phase> busy",
// printed beside it.
func phaseOrder(ph map[string]float64) []string {
	known := []string{"pre-data", "data", "indexes", "proof+constraints", "proof", "constraints", "analyze", "sequences+analyze"}
	var out, rest []string
	for _, k := range known {
		if _, ok := ph[k]; ok {
			out = append(out, k)
		}
	}
	for k := range ph {
		found := false
		for _, kk := range known {
			found = found || k == kk
		}
		if _, busy := ph[strings.TrimSuffix(k, " busy")]; !found && !(strings.HasSuffix(k, " busy") && busy) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func writeMemberReport(w io.Writer, target string, r *member.Report) {
	if r.DryRun {
		fmt.Fprintf(w, "DRY RUN (rolled back, nothing changed): member %d from snapshot %s into %s would get:\n", r.Member, r.Snapshot, target)
	} else {
		fmt.Fprintf(w, "member %d restored from snapshot %s into %s:\n", r.Member, r.Snapshot, target)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tIN SNAPSHOT\tINSERTED\tALREADY PRESENT\tSKIPPED (ID OF ANOTHER MEMBER)\tMOVED TO TOP LEVEL")
	var ins int64
	for _, t := range r.Tables {
		ins += t.Inserted
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", t.Table, t.InSnapshot, t.Inserted, t.AlreadyPresent, t.SkippedOtherMember, t.Reattached)
	}
	tw.Flush()
	verb := "inserted"
	if r.DryRun {
		verb = "would be inserted"
	}
	fmt.Fprintf(w, "%d rows %s; rows still present were kept as they are now; other members' rows were not touched\n", ins, verb)
}
