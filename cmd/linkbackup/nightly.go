package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/clihint"
)

const nightlyHelp = `What cron (or a systemd timer) runs every night, with one exit code and one summary:

  1. backup   snapshot the source into the store (as ` + "`linkbackup backup`" + `)
  2. standby  if standby.server is configured: restore that snapshot into the standby,
              prove it, swap it in (as ` + "`linkbackup standby`" + `). Skipped when the
              backup failed: the standby keeps serving its verified copy.
  3. pitr     if the store holds a base backup (linkbackup basebackup) and drill.pitr is
              not off: recover the newest base backup before the snapshot plus the
              archived WAL, in a scratch cluster (drill.pitr_dir), to exactly the
              snapshot's WAL point, and compare every table's row count and digest
              with the snapshot: point-in-time recovery proven (pitr/<db>.json,
              ` + "`linkbackup status`" + `). Needs wal_level = logical on the source (the
              snapshot then comes from a temporary logical slot whose consistent point
              is its WAL position), the postgres binaries here and the identities.
  4. forget   if a retention policy is set (retention.keep_*): remove what it does not
              keep (as ` + "`linkbackup forget`" + `). Runs even when the drill failed: the
              newest proven snapshot and everything newer are always kept. Skipped
              when the backup failed, and when no policy is set.
  5. status   if status.prometheus_file is set: write the node_exporter textfile

Heartbeat: with nightly.heartbeat_url (healthchecks.io style) it pings <url>/start at
the start, <url> on success and <url>/fail with the error text as the POST body on
failure, so a failed or missing night is noticed. A failed ping is logged and never
fails the job. The URL is a secret: it is never logged.

Deadline: the whole night stops cleanly after deadline (--deadline, default 3h) and the
summary says which step it was at; keep it below the systemd unit's TimeoutStartSec.

The summary is one line on stdout: text on a terminal, JSON otherwise (cron mail,
journald). Logs go to stderr (JSON when not on a terminal).

Exit codes:
  0    backup stored; standby (if configured) refreshed and proven
  1    backup failed: nothing new stored, standby not touched
  2    usage error (bad config)
  3    backup stored, but the standby refresh failed: the standby keeps serving its
       previous verified copy (` + "`linkbackup status`" + ` reports CRITICAL); or the
       forget step failed or some of its deletes were refused (listed in the summary);
       or the point-in-time proof failed (status CRITICAL says why)
  6    backup stored, but an invariant refused the restored copy: the standby keeps
       serving its previous copy (status CRITICAL names the invariant)
  130  interrupted`

// nightlySummary is the one summary line of a night.
type nightlySummary struct {
	Msg       string         `json:"msg"`
	OK        bool           `json:"ok"`
	ExitCode  int            `json:"exit_code"`
	Started   time.Time      `json:"started"`
	Seconds   float64        `json:"seconds"`
	Backup    nightlyBackup  `json:"backup"`
	Standby   nightlyStandby `json:"standby"`
	PITR      nightlyPITR    `json:"pitr"`
	Retention nightlyForget  `json:"retention"`
	Status    *nightlyStatus `json:"status,omitempty"`
	Error     string         `json:"error,omitempty"`
}

type nightlyBackup struct {
	OK          bool    `json:"ok"`
	Snapshot    string  `json:"snapshot,omitempty"`
	Tables      int     `json:"tables,omitempty"`
	Rows        int64   `json:"rows,omitempty"`
	StoredBytes int64   `json:"stored_bytes,omitempty"`
	Seconds     float64 `json:"seconds"`
	Error       string  `json:"error,omitempty"`
}

type nightlyStandby struct {
	Ran            bool    `json:"ran"`
	Skipped        string  `json:"skipped,omitempty"`
	OK             bool    `json:"ok"`
	Database       string  `json:"database,omitempty"`
	Snapshot       string  `json:"snapshot,omitempty"`
	RestoreSeconds float64 `json:"restore_seconds,omitempty"`
	SwapSeconds    float64 `json:"swap_seconds,omitempty"`
	Error          string  `json:"error,omitempty"`
}

type nightlyPITR struct {
	Ran             bool       `json:"ran"`
	Skipped         string     `json:"skipped,omitempty"`
	OK              bool       `json:"ok"`
	ProvenTo        *time.Time `json:"proven_to,omitempty"`
	LSN             string     `json:"lsn,omitempty"`
	BaseBackup      string     `json:"base_backup,omitempty"`
	Tables          int        `json:"tables,omitempty"`
	RecoverySeconds float64    `json:"recovery_seconds,omitempty"`
	Error           string     `json:"error,omitempty"`
}

type nightlyForget struct {
	Ran              bool   `json:"ran"`
	Skipped          string `json:"skipped,omitempty"`
	OK               bool   `json:"ok"`
	RemovedSnapshots int    `json:"removed_snapshots"`
	RemovedBytes     int64  `json:"removed_bytes"`
	KeptSnapshots    int    `json:"kept_snapshots"`
	KeptBytes        int64  `json:"kept_bytes"`
	Summary          string `json:"summary,omitempty"`
	Error            string `json:"error,omitempty"`
}

type nightlyStatus struct {
	State string `json:"state"`
	File  string `json:"prometheus_file"`
	Error string `json:"error,omitempty"`
}

func newNightlyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nightly --config FILE",
		Short: "What cron runs: backup, then standby refresh, with heartbeat pings and one exit code",
		Long:  nightlyHelp,
		Args:  cobra.NoArgs,
		RunE: bounded(a, func(cmd *cobra.Command, _ []string) error {
			c := a.cfg
			if c.Source == "" {
				return usageError(errors.New("no source database: set source: in the config file (or --source, LINKBACKUP_SOURCE)"))
			}
			if c.Store == "" {
				return usageError(errors.New("no store: set store: in the config file (or --store, LINKBACKUP_STORE)"))
			}
			return runNightly(cmd.Context(), a)
		}),
	}
	f := cmd.Flags()
	f.String("source", "", "DSN of the database to back up ($LINKBACKUP_SOURCE)")
	f.String("store", "", "store URL ($LINKBACKUP_STORE)")
	f.String("standby", "", "DSN of the standby server ($LINKBACKUP_STANDBY_SERVER); empty: no standby step")
	f.Duration("deadline", 0, "stop the whole run cleanly after this long, saying which step it was at (default 3h; 0: none)")
	a.bind(cmd, "deadline", "deadline")
	a.bind(cmd, "source", "source")
	a.bind(cmd, "store", "store")
	a.bind(cmd, "standby", "standby.server")
	addKeyFlags(cmd, a, true, true)
	return cmd
}

// runNightly runs the steps, prints the summary and returns the error whose code main
// exits with.
func runNightly(ctx context.Context, a *app) error {
	c := a.cfg
	hb := newHeartbeat(string(c.Nightly.HeartbeatURL), c.Nightly.HeartbeatTimeout, a.log)
	sum := &nightlySummary{Msg: "nightly", Started: time.Now().UTC()}
	hb.Start(ctx)

	finish := func(err error, code int) error { return a.finishNightly(ctx, hb, sum, err, code) }

	if _, err := a.keys(); err != nil {
		return finish(err, exitUsage)
	}
	// 0. A configured invariant that does not parse on the source is a configuration
	// error now, not a failed drill at the end of the night.
	if c.Standby.Server != "" && len(c.Drill.Invariants) > 0 {
		if err := validateInvariantsOn(ctx, string(c.Source), c.Drill.Invariants); err != nil {
			return finish(err, exitUsage)
		}
	}

	// 1. Backup.
	t0 := time.Now()
	st, err := openStore(ctx, c.Store, a.log)
	var m *backup.Manifest
	if err == nil {
		m, err = backup.Backup(ctx, backupOptions(c, st, a))
	}
	sum.Backup.Seconds = time.Since(t0).Seconds()
	if err != nil {
		sum.Backup.Error = clihint.Message(err)
		sum.Standby.Skipped = "backup failed"
		sum.PITR.Skipped = "backup failed"
		sum.Retention.Skipped = "backup failed"
		return finish(fmt.Errorf("backup: %w", err), exitError)
	}
	sum.Backup = nightlyBackup{OK: true, Snapshot: m.ID, Tables: m.Totals.Tables, Rows: m.Totals.Rows,
		StoredBytes: m.Totals.StoredBytes, Seconds: sum.Backup.Seconds}

	// 2. Standby.
	stCode, stErr := a.nightlyStandby(ctx, st, m, sum)

	// 3. Point-in-time proof (also after a failed standby step: it is its own proof).
	prErr := a.nightlyPITR(ctx, st, m, &sum.PITR)

	// 4. Forget (also after a failed drill: the protections keep what matters).
	fgErr := a.nightlyForget(ctx, st, &sum.Retention)

	// 5. Status textfile for node_exporter (never changes the night's outcome).
	a.nightlyStatus(ctx, sum)
	if err := errors.Join(stErr, prErr, fgErr); err != nil {
		if stErr != nil {
			return finish(err, stCode)
		}
		return finish(err, exitPartial)
	}
	return finish(nil, exitOK)
}

// text is the summary as one human line (also the heartbeat's success body).
func (s *nightlySummary) text() string {
	var b strings.Builder
	state := "OK"
	if !s.OK {
		state = "FAILED"
	}
	fmt.Fprintf(&b, "nightly %s in %.1fs (exit %d): ", state, s.Seconds, s.ExitCode)
	if s.Backup.OK {
		fmt.Fprintf(&b, "backup %s (%d tables, %d rows, %s stored, %.1fs)", s.Backup.Snapshot, s.Backup.Tables, s.Backup.Rows,
			backup.HumanBytes(s.Backup.StoredBytes), s.Backup.Seconds)
	} else {
		fmt.Fprintf(&b, "backup FAILED after %.1fs", s.Backup.Seconds)
	}
	switch {
	case s.Standby.OK:
		fmt.Fprintf(&b, "; standby %s serves it, proven (restore %.1fs, swap %.2fs)", s.Standby.Database,
			s.Standby.RestoreSeconds, s.Standby.SwapSeconds)
	case s.Standby.Ran:
		b.WriteString("; standby refresh FAILED, the standby keeps its previous copy")
	default:
		fmt.Fprintf(&b, "; standby skipped: %s", s.Standby.Skipped)
	}
	switch p := s.PITR; {
	case p.OK:
		fmt.Fprintf(&b, "; point-in-time recovery proven to %s (%d tables, recovery %.1fs)", p.ProvenTo.UTC().Format(time.RFC3339),
			p.Tables, p.RecoverySeconds)
	case p.Ran:
		fmt.Fprintf(&b, "; point-in-time proof FAILED: %s", p.Error)
	default:
		fmt.Fprintf(&b, "; pitr skipped: %s", p.Skipped)
	}
	switch r := s.Retention; {
	case r.Ran && r.Summary != "":
		fmt.Fprintf(&b, "; forget %s", r.Summary)
	case r.Ran:
		fmt.Fprintf(&b, "; forget FAILED: %s", r.Error)
	default:
		fmt.Fprintf(&b, "; forget skipped: %s", r.Skipped)
	}
	if s.Status != nil && s.Status.State != "" {
		fmt.Fprintf(&b, "; status %s", s.Status.State)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "; error: %s", s.Error)
	}
	return b.String()
}

func (a *app) printNightly(s *nightlySummary) {
	if isTerminal(a.stdout) {
		fmt.Fprintln(a.stdout, s.text())
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		fmt.Fprintln(a.stdout, s.text())
		return
	}
	fmt.Fprintln(a.stdout, string(b))
}

// nightlyForget runs the forget step into sum; a skipped step (no policy) is no error.
func (a *app) nightlyForget(ctx context.Context, st backup.Store, sum *nightlyForget) error {
	if pol, _, err := a.cfg.Retention.Policy(); err == nil && pol.Empty() {
		sum.Skipped = "no retention policy (retention.keep_*): every snapshot is kept"
		return nil
	}
	sum.Ran = true
	o, err := a.forgetOptions("", false)
	var r *backup.ForgetReport
	if err == nil {
		o.Store, o.Lock = st, a.forgetLocker(st)
		r, err = backup.Forget(ctx, o)
	}
	if r != nil {
		sum.RemovedSnapshots, sum.RemovedBytes = r.Removed.Snapshots, r.Removed.Bytes
		sum.KeptSnapshots, sum.KeptBytes = r.Kept.Snapshots, r.Kept.Bytes
		sum.Summary = forgetSummary(r)
	}
	if err != nil {
		sum.Error = err.Error()
		a.log.Warn("forget step failed", "err", err)
		return fmt.Errorf("forget: %w", err)
	}
	sum.OK = true
	return nil
}

// nightlyStatus writes the status textfile, if configured, into sum.
func (a *app) nightlyStatus(ctx context.Context, sum *nightlySummary) {
	c := a.cfg
	f := c.Status.PrometheusFile
	if f == "" || ctx.Err() != nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, c.Status.Timeout)
	now := time.Now()
	rep, err := checkStatus(sctx, a, now)
	sum.Status = &nightlyStatus{File: f}
	if err == nil {
		// The same file status writes: the weekly email's gauges stay in it.
		mail := checkMailStatus(sctx, a, now, rep)
		sum.Status.State = rep.State
		err = writePrometheusFile(f, rep, mail)
	}
	cancel()
	if err != nil {
		sum.Status.Error = clihint.Message(err)
		a.log.Warn("cannot write the status textfile", "file", f, "err", err)
	}
}

// finishNightly prints the summary, reports to the heartbeat and returns the night's
// error with its exit code.
func (a *app) finishNightly(ctx context.Context, hb *heartbeat, sum *nightlySummary, err error, code int) error {
	sum.OK = err == nil
	sum.Seconds = time.Since(sum.Started).Seconds()
	hctx := ctx
	if deadlinePassed(ctx) {
		err, hctx = atDeadline(ctx, a.cfg.Deadline, err), context.WithoutCancel(ctx) // the heartbeat still goes out
	}
	if err != nil {
		sum.Error = clihint.Message(err)
		if ctx.Err() != nil && !deadlinePassed(ctx) {
			code = exitInterrupted
		}
	}
	sum.ExitCode = code
	a.printNightly(sum)
	if err != nil {
		hb.Fail(hctx, clihint.Message(err))
		if code == exitInterrupted {
			return err // main sees the cancelled context: 130
		}
		return withCode(code, err)
	}
	hb.Success(ctx, sum.text())
	return nil
}

// nightlyStandby refreshes the standby with snapshot m (if one is configured) and
// returns the step's error and the exit code it means.
func (a *app) nightlyStandby(ctx context.Context, st backup.Store, m *backup.Manifest, sum *nightlySummary) (int, error) {
	c := a.cfg
	var stErr error
	stCode := exitPartial
	if c.Standby.Server == "" {
		sum.Standby.Skipped = "no standby configured (standby.server)"
	} else {
		sum.Standby.Ran = true
		rec, err := backup.RefreshStandby(ctx, standbyOptions(c, st, m.ID, a))
		if err != nil {
			sum.Standby.Error = clihint.Message(err)
			stErr = fmt.Errorf("standby: %w", err)
			if errors.Is(err, backup.ErrInvariant) {
				stCode = exitInvariant
			}
		} else {
			sum.Standby = nightlyStandby{Ran: true, OK: true, Database: rec.Database, Snapshot: rec.Snapshot,
				RestoreSeconds: rec.RestoreSeconds, SwapSeconds: rec.SwapSeconds}
		}
	}
	return stCode, stErr
}

// nightlyPITR runs the point-in-time proof of snapshot m into sum (drill.pitr): skipped
// without a base backup (auto) or when off.
func (a *app) nightlyPITR(ctx context.Context, st backup.Store, m *backup.Manifest, sum *nightlyPITR) error {
	c := a.cfg
	if c.Drill.PITR == "off" {
		sum.Skipped = "drill.pitr is off"
		return nil
	}
	bases, err := backup.ListBaseBackups(ctx, st)
	if err != nil {
		sum.Ran, sum.Error = true, clihint.Message(err)
		return fmt.Errorf("pitr: %w", err)
	}
	switch {
	case len(bases) == 0 && c.Drill.PITR == "required":
		sum.Ran, sum.Error = true, "no base backup in the store (drill.pitr is required): take one with linkbackup basebackup"
		return fmt.Errorf("pitr: %s", sum.Error)
	case len(bases) == 0:
		sum.Skipped = "no base backup in the store (linkbackup basebackup)"
		return nil
	case m.WALPoint == nil && c.Drill.PITR != "required":
		// Recorded by the proof (status then says why) only when asked for strictly: a
		// store with base backups from a replica-level source is not a failed night.
		sum.Skipped = "the snapshot has no WAL position (the source needs wal_level = logical and a REPLICATION role)"
		a.log.Warn("point-in-time proof skipped", "reason", sum.Skipped)
		return nil
	}
	sum.Ran = true
	rec, err := backup.ProvePITR(ctx, backup.PITROptions{Store: st, Keys: a.keyring, Snapshot: m.ID,
		ScratchDir: c.Drill.PITRDir, Wait: c.Drill.PITRWait, Jobs: c.Standby.Jobs, Log: a.log})
	if rec != nil {
		sum.LSN, sum.BaseBackup, sum.Tables, sum.RecoverySeconds = rec.LSN, rec.BaseBackup, rec.Tables, rec.RecoverySeconds
	}
	if err != nil {
		sum.Error = clihint.Message(err)
		a.log.Warn("point-in-time proof failed", "err", err)
		return fmt.Errorf("pitr: %w", err)
	}
	sum.OK, sum.ProvenTo = true, &rec.PointTime
	return nil
}
