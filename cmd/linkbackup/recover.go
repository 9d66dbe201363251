package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
)

// recoverFlags are restore's point-in-time flags.
type recoverFlags struct {
	toTime, toLSN, pgdata string
	latest, start         bool
	port                  int
}

func addRecoverFlags(cmd *cobra.Command) *recoverFlags {
	rf := &recoverFlags{}
	f := cmd.Flags()
	f.StringVar(&rf.toTime, "to-time", "", "point-in-time recovery to this time (RFC 3339) from a base backup and the WAL archive, into --pgdata")
	f.StringVar(&rf.toLSN, "to-lsn", "", "point-in-time recovery to this WAL position (e.g. 0/3000028), into --pgdata")
	f.BoolVar(&rf.latest, "to-latest", false, "point-in-time recovery to the end of the WAL archive, into --pgdata")
	f.StringVar(&rf.pgdata, "pgdata", "", "with --to-*: the empty data directory to recover into (owned by the postgres user)")
	f.BoolVar(&rf.start, "start", false, "with --to-*: start PostgreSQL there, wait for recovery to end, promote, print the point reached")
	f.IntVar(&rf.port, "port", 5439, "with --start: the port (the socket goes to a private directory; no TCP listener)")
	return rf
}

func (rf *recoverFlags) wanted(cmd *cobra.Command) bool {
	return rf.toTime != "" || rf.toLSN != "" || rf.latest
}

// runRecover is restore --to-time|--to-lsn|--to-latest --pgdata DIR [--start].
func (a *app) runRecover(cmd *cobra.Command, rf *recoverFlags, args []string) error {
	targets := 0
	for _, set := range []bool{rf.toTime != "", rf.toLSN != "", rf.latest} {
		if set {
			targets++
		}
	}
	switch {
	case targets > 1:
		return usageError(errors.New("--to-time, --to-lsn and --to-latest are alternatives: give one"))
	case rf.pgdata == "" || !filepath.IsAbs(rf.pgdata):
		return usageError(errors.New("point-in-time recovery needs --pgdata DIR, an absolute path to an empty directory"))
	case len(args) > 0:
		return usageError(errors.New("point-in-time recovery picks its base backup itself: give no snapshot id"))
	}
	o := backup.RecoverOptions{PGData: rf.pgdata, ToLSN: rf.toLSN, Latest: rf.latest, Log: a.log}
	if rf.toTime != "" {
		t, err := time.Parse(time.RFC3339Nano, rf.toTime)
		if err != nil {
			return usageError(fmt.Errorf("--to-time %q: want RFC 3339, e.g. 2026-12-01T14:03:00Z", rf.toTime))
		}
		o.ToTime = t
	}
	ctx := cmd.Context()
	keys, err := a.keys()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, a.cfg.Store, a.log)
	if err != nil {
		return err
	}
	if o.RestoreCommand, err = a.walFetchCommand(); err != nil {
		return err
	}
	o.Store, o.Keys = st, keys
	rep, err := backup.Recover(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "base backup %s (start %s, end %s, timeline %d) unpacked into %s, checked by pg_verifybackup; recovery target: %s\n",
		rep.Base.ID, rep.Base.StartLSN, rep.Base.StopLSN, rep.Base.Timeline, rep.PGData, rep.Target)
	if !rf.start {
		fmt.Fprintf(a.stdout, "start it with: pg_ctl -D %s start (as the directory's owner)\n", rep.PGData)
		return nil
	}
	r, err := backup.StartRecovered(ctx, rf.pgdata, rf.port, "postgres")
	if err != nil {
		return err
	}
	last := "none replayed"
	if r.LastCommit != nil {
		last = r.LastCommit.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(a.stdout, "recovered and promoted: last replayed commit %s, WAL position %s; running on port %d, socket in %s\n",
		last, r.LSN, r.Port, r.SocketDir)
	return nil
}

// walFetchCommand is the restore_command the recovered server runs: this binary's
// wal-fetch with the same store and keys.
func (a *app) walFetchCommand() (string, error) {
	self, err := selfBinary()
	if err != nil {
		return "", err
	}
	parts := []string{shellQuote(self), "wal-fetch", "%f", "%p", "--store", shellQuote(a.cfg.Store)}
	if a.configFile != "" {
		abs, _ := filepath.Abs(a.configFile)
		parts = append(parts, "--config", shellQuote(abs))
	}
	for _, f := range a.cfg.Encryption.IdentityFiles {
		abs, _ := filepath.Abs(f)
		parts = append(parts, "--identity", shellQuote(abs))
	}
	for _, v := range a.cfg.Signing.VerifyKeys {
		if _, err := os.Stat(v); err == nil {
			v, _ = filepath.Abs(v)
		}
		parts = append(parts, "--verify-key", shellQuote(v))
	}
	if a.cfg.Signing.AllowUnsigned {
		parts = append(parts, "--allow-unsigned")
	}
	return strings.Join(parts, " "), nil
}

// selfBinary is the path of this program (tests point it at a built binary).
var selfBinary = os.Executable

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
