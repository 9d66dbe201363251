package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/trust"
	"github.com/linkagogo/linkbackup/internal/atomicfile"
	"github.com/linkagogo/linkbackup/internal/clihint"
	"github.com/linkagogo/linkbackup/internal/statusview"
)

const statusHelp = `Answer the morning question in one command: is last night's data safe and is the
standby ready?

  snapshot  the latest complete snapshot: id, age, size, and whether the standby serves
            it (restored and proven by the standby drill)
  standby   with --standby: what the standby serves (its COMMENT ON DATABASE record),
            when it was verified, how old its data is (now - source time), whether a
            previous copy is kept. Without --standby, the serving record stored with
            the last attempt in the store is judged instead.
  last run  the last standby refresh attempt, from the store: a failure is CRITICAL
            and its error is shown
  wal       when the store holds archived WAL (wal-push): when its newest segment was
            archived, i.e. how much a point-in-time recovery would lose now;
            WARNING/CRITICAL past status.wal_warn_age (15m) / wal_crit_age (1h)
  pitr      when the store holds a base backup: "point-in-time recovery proven to
            <time>", the newest snapshot point the nightly proof recovered from a base
            backup plus the WAL and found equal table by table; never proven is a
            WARNING, a failed last proof CRITICAL (its error shown), the proven point
            older than status.pitr_warn_age (25h) / pitr_crit_age (49h) WARNING/CRITICAL
  snapshot  also: whether the latest snapshot is encrypted and signed, and (with
            encryption.identity_files) a WARNING when those identities cannot decrypt it
  invariants  the drill's results on the served copy (a steady violation is a
            WARNING) and on a copy they refused
  database  per database in the store: snapshot count, bytes stored, the oldest
            restorable time, the newest snapshot proven by a drill, and the pins
            (an unreadable pin or drill record is a WARNING: forget refuses to run)

The first line is Nagios/Icinga plugin output with performance data; the rest is
detail. Thresholds (config status.*, env LINKBACKUP_STATUS_*): latest snapshot older
than snapshot_warn_age (25h) / snapshot_crit_age (49h); standby data older than
standby_warn_age (25h) / standby_crit_age (26h). The standby database name defaults to
the latest snapshot's database (--database to override).

--prometheus FILE also writes a node_exporter textfile (atomically: temp file + rename)
with timestamps, sizes, the standby's data age, last attempt ok (0/1), the status, and
per database linkbackup_snapshots, linkbackup_store_bytes,
linkbackup_oldest_snapshot_timestamp_seconds and linkbackup_pinned_snapshots, and for the
weekly email linkbackup_mail_members{period,week,state} and
linkbackup_mail_last_message_timestamp_seconds, plus linkbackup_invariant_violations,
linkbackup_wal_newest_archived_timestamp_seconds, linkbackup_pitr_proven_timestamp_seconds
and linkbackup_pitr_last_proof_ok.

  mail      when a state database is configured (mail.state, or the source) and
            holds the ledger: the weekly email's current and last period: selected, sent,
            pending, failed permanently, suppressed, skipped, the last message's time.
            WARNING when the current week's run has not finished by status.mail_due
            ("Monday 12:00", UTC); CRITICAL when more than status.mail_failed_crit
            (5) percent of the selected members failed permanently (the current
            period once enqueued, else the last); UNKNOWN when the state database
            cannot be read.

Exit codes (Nagios/Icinga plugin convention):
  0  OK
  1  WARNING   an age is past its warning threshold
  2  CRITICAL  no snapshot, an age past its critical threshold, the last standby refresh
               failed, the standby is unreachable or holds no verified copy
  3  UNKNOWN   the store cannot be read, bad flags or config (status never exits 2 for
               a usage error: monitors would read it as CRITICAL)`

func newStatusCmd(a *app) *cobra.Command {
	var asJSON bool
	var at string
	cmd := &cobra.Command{
		Use:   "status --store URL [--standby DSN] [--database NAME] [--json] [--prometheus FILE]",
		Short: "Monitor check: latest snapshot, standby readiness, last refresh (exit 0/1/2/3)",
		Long:  statusHelp,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return withCode(int(backup.LevelUnknown), fmt.Errorf("status takes no arguments, got %q", args))
			}
			return nil
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return unknownOnError(a.setup(cmd))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := a.cfg
			unknown := func(err error) error { return withCode(int(backup.LevelUnknown), err) }
			if c.Store == "" {
				return unknown(errNoStore)
			}
			now := time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return unknown(fmt.Errorf("--now %q: want RFC 3339, e.g. 2026-03-10T08:00:00Z", at))
				}
				now = t
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), c.Status.Timeout)
			defer cancel()
			rep, err := checkStatus(ctx, a, now)
			if err != nil {
				return unknownOnError(err)
			}
			mail := checkMailStatus(ctx, a, now, rep)
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(statusWithMail{rep, mail}); err != nil {
					return unknown(err)
				}
			} else if err := statusview.WriteTextMail(a.stdout, rep, mail); err != nil {
				return unknown(err)
			}
			code := int(rep.Code)
			if c.Status.PrometheusFile != "" {
				if err := writePrometheusFile(c.Status.PrometheusFile, rep, mail); err != nil {
					fmt.Fprintf(a.stderr, "linkbackup status: %v\n", err)
					if rep.Code == backup.LevelOK || rep.Code == backup.LevelWarning {
						code = int(backup.LevelUnknown)
					}
				}
			}
			if code == 0 {
				return nil
			}
			return silentExit(code)
		},
	}
	// A flag error is UNKNOWN too.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(int(backup.LevelUnknown), err) })
	f := cmd.Flags()
	f.String("store", "", "store URL ($LINKBACKUP_STORE)")
	f.String("standby", "", "DSN of the standby server, on a maintenance database ($LINKBACKUP_STANDBY_SERVER)")
	f.String("database", "", "serving database name on the standby (default: the latest snapshot's database)")
	f.String("prometheus", "", "also write a node_exporter textfile here, atomically ($LINKBACKUP_STATUS_PROMETHEUS_FILE)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&at, "now", "", "judge as of this time (RFC 3339) instead of the clock: \"what will status say at 09:00?\"")
	f.MarkHidden("now")
	a.bind(cmd, "store", "store")
	a.bind(cmd, "standby", "standby.server")
	a.bind(cmd, "database", "standby.database")
	a.bind(cmd, "prometheus", "status.prometheus_file")
	return cmd
}

// statusWithMail is the report as --json prints it: the backup report's fields, and
// "mail" when a state database is configured.
type statusWithMail struct {
	*backup.StatusReport
	Mail *statusview.Mail `json:"mail,omitempty"`
}

// unknownOnError turns any exit code of a failed status into UNKNOWN (3).
func unknownOnError(err error) error {
	if err == nil {
		return nil
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return withCode(int(backup.LevelUnknown), ce.err)
	}
	return withCode(int(backup.LevelUnknown), err)
}

// checkStatus opens the store (an unreachable one is a finding, not an error) and
// evaluates the status as of now. Only a malformed store URL is an error.
func checkStatus(ctx context.Context, a *app, now time.Time) (*backup.StatusReport, error) {
	c := a.cfg
	var ids []string
	if len(c.Encryption.IdentityFiles) > 0 {
		keys, err := a.keys()
		if err != nil {
			return nil, err
		}
		ids = trust.Fingerprints(keys.Identities)
	}
	o := backup.StatusOptions{Hint: clihint.Text, Identities: ids, StoreName: showURL(c.Store), StandbyServer: string(c.Standby.Server),
		Database: c.Standby.Database, Now: now, SourceDatabase: sourceDatabase(c)}
	st, err := openStore(ctx, c.Store, a.log)
	var ce *codeError
	if errors.As(err, &ce) && ce.code == exitUsage {
		return nil, err
	}
	o.Store, o.StoreErr = st, err
	return backup.CheckStatus(ctx, o, backup.StatusThresholds{
		SnapshotWarn: c.Status.SnapshotWarnAge, SnapshotCrit: c.Status.SnapshotCritAge,
		StandbyWarn: c.Status.StandbyWarnAge, StandbyCrit: c.Status.StandbyCritAge,
		WALWarn: c.Status.WALWarnAge, WALCrit: c.Status.WALCritAge,
		PITRWarn: c.Status.PITRWarnAge, PITRCrit: c.Status.PITRCritAge,
	}), nil
}

// showURL is a store URL fit for output: user info redacted.
func showURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "**unparsable store URL**"
	}
	return u.Redacted()
}

// writePrometheusFile writes the report as a node_exporter textfile: temp file in the
// same directory, fsync, rename, fsync the directory; readable by node_exporter (0644).
func writePrometheusFile(path string, rep *backup.StatusReport, mail *statusview.Mail) error {
	var b bytes.Buffer
	if err := statusview.WritePrometheusMail(&b, rep, mail); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
