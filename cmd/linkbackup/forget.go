package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/retention"
)

const forgetHelp = `Remove the snapshots the retention policy does not keep, per database in the store.

The policy (config retention.*, or the flags below) has restic's semantics: keep_last N
newest; keep_daily/keep_weekly/keep_monthly/keep_yearly N: the newest snapshot of each of
the last N days, ISO weeks, months, years that have one, in retention.time_zone (default
UTC); keep_within SPAN (3d, 2w, 1y6m, 36h): everything started within SPAN before now.
Snapshots are ordered by the manifest's start time, never by name.

Always kept, whatever the policy says, with the reason in the table:
  - the newest snapshot of each database;
  - the newest snapshot proven by a standby drill ("last proven by the drill"), and the
    ones the standby serves and keeps as previous (from the drill records in the store);
  - every snapshot newer than the newest proven one (failed drills never remove what the
    next good night needs; a database never proven keeps everything, with a warning,
    unless retention.allow_unproven / --allow-unproven: a site without a standby for it);
  - pinned snapshots (linkbackup pin ID --reason TEXT).

Removal: the manifest first (the snapshot is gone for every command at once), then its
objects; an interrupted run is finished by the next one. A delete the store refuses
(permissions, S3 Object Lock) is reported per object; a refused manifest keeps the
snapshot complete and listed. The same run removes incomplete snapshots and aborts
incomplete multipart uploads older than backup.orphan_age.

forget takes the backup lock on --source and the standby lock on --standby (when set):
it never runs beside a backup or standby refresh of the same store and database; a
second one refuses, naming the holder. A crashed holder's lock ends with its session.

--now TIME evaluates the policy as of another time (RFC 3339, or YYYY-MM-DD for
midnight in the policy's zone): "what will be left on 1 March". A --now in the future
implies --dry-run.

Exit codes: 0 done (or dry run); 1 error (nothing removed unless the report says so);
2 usage error, an empty policy included; 3 some deletes were refused (listed).`

func newForgetCmd(a *app) *cobra.Command {
	var dryRun, asJSON bool
	var nowFlag string
	cmd := &cobra.Command{
		Use:   "forget --store URL --source DSN [--dry-run] [--json] [--now TIME] [--keep-daily N ...]",
		Short: "Remove snapshots the retention policy does not keep (never the last proven one)",
		Long:  forgetHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.forgetOptions(nowFlag, dryRun)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, a.cfg.Store, a.log)
			if err != nil {
				return err
			}
			o.Store = st
			o.Lock = a.forgetLocker(st)
			r, ferr := backup.Forget(ctx, o)
			if r == nil {
				return forgetError(ferr)
			}
			if err := writeForgetReport(a.stdout, r, o.Location, asJSON); err != nil {
				return err
			}
			return forgetError(ferr)
		},
	}
	f := cmd.Flags()
	d := DefaultConfig()
	f.String("store", d.Store, "store URL ($LINKBACKUP_STORE)")
	f.String("source", string(d.Source), "DSN of the source database server, for the backup lock ($LINKBACKUP_SOURCE)")
	f.String("standby", string(d.Standby.Server), "DSN of the standby server, for the standby lock ($LINKBACKUP_STANDBY_SERVER)")
	f.BoolVar(&dryRun, "dry-run", false, "print the decisions, remove nothing")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&nowFlag, "now", "", "evaluate as of this time (RFC 3339 or YYYY-MM-DD); in the future implies --dry-run")
	f.Int("keep-last", d.Retention.KeepLast, "keep the N newest snapshots ($LINKBACKUP_RETENTION_KEEP_LAST)")
	f.Int("keep-daily", d.Retention.KeepDaily, "keep the newest snapshot of each of the last N days")
	f.Int("keep-weekly", d.Retention.KeepWeekly, "keep the newest snapshot of each of the last N ISO weeks")
	f.Int("keep-monthly", d.Retention.KeepMonthly, "keep the newest snapshot of each of the last N months")
	f.Int("keep-yearly", d.Retention.KeepYearly, "keep the newest snapshot of each of the last N years")
	f.String("keep-within", d.Retention.KeepWithin, "keep every snapshot started within this span before now (3d, 2w, 1y6m, 36h)")
	f.String("time-zone", d.Retention.TimeZone, "IANA time zone of the calendar buckets")
	f.Bool("allow-unproven", d.Retention.AllowUnproven, "apply the policy to databases no standby drill ever proved (default: keep all of theirs)")
	f.Duration("orphan-age", d.Backup.OrphanAge, "remove incomplete snapshots and uploads older than this")
	f.Duration("lock-timeout", d.Backup.LockTimeout, "wait this long for a running backup or standby refresh")
	for flag, key := range map[string]string{"store": "store", "source": "source", "standby": "standby.server",
		"keep-last": "retention.keep_last", "keep-daily": "retention.keep_daily", "keep-weekly": "retention.keep_weekly",
		"keep-monthly": "retention.keep_monthly", "keep-yearly": "retention.keep_yearly",
		"keep-within": "retention.keep_within", "time-zone": "retention.time_zone", "allow-unproven": "retention.allow_unproven",
		"orphan-age": "backup.orphan_age", "lock-timeout": "backup.lock_timeout"} {
		a.bind(cmd, flag, key)
	}
	return cmd
}

// forgetOptions builds the options of a forget from the config (forget and nightly);
// Store and Lock are the caller's. An empty or bad policy is a usage error.
func (a *app) forgetOptions(nowFlag string, dryRun bool) (backup.ForgetOptions, error) {
	c := a.cfg
	if c.Store == "" {
		return backup.ForgetOptions{}, errNoStore
	}
	pol, loc, err := c.Retention.Policy()
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		return backup.ForgetOptions{}, usageError(err)
	}
	o := backup.ForgetOptions{Policy: pol, Location: loc, DryRun: dryRun, OrphanAge: c.Backup.OrphanAge,
		Jobs: c.Backup.Jobs, Log: a.log}
	if nowFlag != "" {
		if o.Now, err = parseNow(nowFlag, loc); err != nil {
			return backup.ForgetOptions{}, usageError(err)
		}
		if o.Now.After(time.Now()) && !o.DryRun {
			a.log.Info("--now is in the future: dry run", "now", o.Now)
			o.DryRun = true
		}
	}
	if !o.DryRun && c.Source == "" {
		return backup.ForgetOptions{}, usageError(errors.New("forget needs the source database (--source DSN, LINKBACKUP_SOURCE " +
			"or source: in the config file) to take the backup lock, so that no backup runs while snapshots are removed; " +
			"--dry-run needs none"))
	}
	return o, nil
}

// forgetLocker is the PostgreSQL locker of the configured source and standby servers.
func (a *app) forgetLocker(st backup.Store) backup.Locker {
	if a.cfg.Source == "" {
		return nil
	}
	return &backup.PGLocker{Source: string(a.cfg.Source), Standby: string(a.cfg.Standby.Server), Store: st,
		Wait: a.cfg.Backup.LockTimeout, Log: a.log}
}

// parseNow reads --now: RFC 3339, or a date (midnight in loc).
func parseNow(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--now %q: want RFC 3339 (2027-03-01T08:00:00Z) or a date (2027-03-01)", s)
}

// forgetError maps forget's errors to the exit code table: refused deletes are partial (3).
func forgetError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backup.ErrForgetPartial):
		return withCode(exitPartial, err)
	case errors.Is(err, retention.ErrEmptyPolicy), errors.Is(err, retention.ErrBadPolicy):
		return usageError(err)
	}
	return err
}

func writeForgetReport(w io.Writer, r *backup.ForgetReport, loc *time.Location, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	if err := retention.WriteTable(w, r.Plan, r.Policy, loc); err != nil {
		return err
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "refused: %s (snapshot %s): %s\n", f.Key, f.Snapshot, f.Error)
	}
	for _, id := range r.NotRemoved {
		fmt.Fprintf(w, "not removed: %s stays complete and listed\n", id)
	}
	for _, id := range r.Finished {
		fmt.Fprintf(w, "finished: the remaining objects of %s (made invisible by an interrupted forget) are removed\n", id)
	}
	if r.OrphanError != "" {
		fmt.Fprintf(w, "orphan cleanup failed: %s\n", r.OrphanError)
	}
	if p := r.Physical; p != nil {
		fmt.Fprintf(w, "base backups: %d kept, %d removed %v; WAL before %s: %d files removed\n",
			len(p.KeptBases), len(p.RemovedBases), p.RemovedBases, p.WALBefore, p.RemovedWAL)
	}
	if r.UploadsAborted > 0 || r.UploadsError != "" {
		fmt.Fprintf(w, "incomplete uploads aborted: %d %s\n", r.UploadsAborted, r.UploadsError)
	}
	verdict := "done: " + forgetSummary(r)
	if r.DryRun {
		verdict = "dry run: nothing removed"
	}
	_, err := fmt.Fprintf(w, "%s (as of %s)\n", verdict, r.Now.In(loc).Format("2006-01-02 15:04 MST"))
	return err
}

// forgetSummary is nightly's words about its forget step.
func forgetSummary(r *backup.ForgetReport) string {
	return fmt.Sprintf("removed %d snapshots (%s), kept %d (%s)", r.Removed.Snapshots, backup.HumanBytes(r.Removed.Bytes),
		r.Kept.Snapshots, backup.HumanBytes(r.Kept.Bytes))
}
