package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/member"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
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

// recoverOptions checks the point-in-time flags and builds Recover's options (without
// the store, keys and restore command).
func (rf *recoverFlags) options(args []string, needPGData bool) (backup.RecoverOptions, error) {
	targets := 0
	for _, set := range []bool{rf.toTime != "", rf.toLSN != "", rf.latest} {
		if set {
			targets++
		}
	}
	switch {
	case targets > 1:
		return backup.RecoverOptions{}, usageError(errors.New("--to-time, --to-lsn and --to-latest are alternatives: give one"))
	case needPGData && (rf.pgdata == "" || !filepath.IsAbs(rf.pgdata)):
		return backup.RecoverOptions{}, usageError(errors.New("point-in-time recovery needs --pgdata DIR, an absolute path to an empty directory"))
	case !needPGData && rf.pgdata != "":
		return backup.RecoverOptions{}, usageError(errors.New("--member with --to-time recovers into a scratch directory of its own: give no --pgdata"))
	case len(args) > 0:
		return backup.RecoverOptions{}, usageError(errors.New("point-in-time recovery picks its base backup itself: give no snapshot id"))
	}
	o := backup.RecoverOptions{PGData: rf.pgdata, ToLSN: rf.toLSN, Latest: rf.latest}
	if rf.toTime != "" {
		t, err := time.Parse(time.RFC3339Nano, rf.toTime)
		if err != nil {
			return o, usageError(fmt.Errorf("--to-time %q: want RFC 3339, e.g. 2026-12-01T14:03:00Z", rf.toTime))
		}
		o.ToTime = t
	}
	return o, nil
}

// prepare fills in the store, keys, restore command and log of o.
func (a *app) prepareRecover(cmd *cobra.Command, o *backup.RecoverOptions) error {
	ctx := cmd.Context()
	st, keys, err := a.keyedStore(ctx)
	if err != nil {
		return err
	}
	if o.RestoreCommand, err = a.walFetchCommand(); err != nil {
		return err
	}
	o.Store, o.Keys, o.Log = st, keys, a.log
	return nil
}

// runRecover is restore --to-time|--to-lsn|--to-latest --pgdata DIR [--start].
func (a *app) runRecover(cmd *cobra.Command, rf *recoverFlags, args []string) error {
	o, err := rf.options(args, true)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if err := a.prepareRecover(cmd, &o); err != nil {
		return err
	}
	// With --start this process feeds the WAL while it watches the recovery: the
	// server (running as the directory's owner) needs no keys and no store access.
	// Without, the server runs restore_command = linkbackup wal-fetch itself.
	o.Feed = rf.start
	rep, err := backup.Recover(ctx, o)
	if err != nil {
		return err
	}
	defer rep.Close()
	fmt.Fprintf(a.stdout, "base backup %s (start %s, end %s, timeline %d) unpacked into %s, checked by pg_verifybackup; recovery target: %s\n",
		rep.Base.ID, rep.Base.StartLSN, rep.Base.StopLSN, rep.Base.Timeline, rep.PGData, rep.Target)
	if !rf.start {
		fmt.Fprintf(a.stdout, "start it with: pg_ctl -D %s start (as the directory's owner)\n", rep.PGData)
		return nil
	}
	r, err := backup.StartRecovered(ctx, rf.pgdata, rf.port, "postgres")
	if err != nil {
		return errors.Join(rep.FeedErr(), err)
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
	parts := []string{backup.ShellQuote(self), "wal-fetch", "%f", "%p", "--store", backup.ShellQuote(a.cfg.Store)}
	if a.configFile != "" {
		abs, _ := filepath.Abs(a.configFile)
		parts = append(parts, "--config", backup.ShellQuote(abs))
	}
	for _, f := range a.cfg.Encryption.IdentityFiles {
		abs, _ := filepath.Abs(f)
		parts = append(parts, "--identity", backup.ShellQuote(abs))
	}
	for _, v := range a.cfg.Signing.VerifyKeys {
		if _, err := os.Stat(v); err == nil {
			v, _ = filepath.Abs(v)
		}
		parts = append(parts, "--verify-key", backup.ShellQuote(v))
	}
	if a.cfg.Signing.AllowUnsigned {
		parts = append(parts, "--allow-unsigned")
	}
	return strings.Join(parts, " "), nil
}

// selfBinary is the path of this program (tests point it at a built binary).
var selfBinary = os.Executable

// runMemberAsOf is restore --member ID --to-time T --target DSN: the cluster recovered to
// T in a scratch directory on a private socket, the member's rows restored from it into
// the target with the usual conflict rules (and --dry-run), the scratch cluster removed.
func (a *app) runMemberAsOf(cmd *cobra.Command, rf *recoverFlags, args []string, target string, memberID int64, dryRun, asJSON bool) error {
	switch {
	case target == "":
		return usageError(errors.New("no target: set --target DSN (the database to put the member's rows back into)"))
	case memberID <= 0:
		return usageError(fmt.Errorf("--member %d: want a member id > 0", memberID))
	}
	o, err := rf.options(args, false)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if err := a.prepareRecover(cmd, &o); err != nil {
		return err
	}
	base, scratch, err := backup.ScratchDataDir(a.cfg.Drill.PITRDir, a.log)
	if err != nil {
		return err
	}
	defer backup.RemoveScratch(base)
	o.PGData, o.PrivateTrust, o.Feed = scratch, true, true
	rep, err := backup.Recover(ctx, o)
	if err != nil {
		return err
	}
	defer rep.Close()
	port, err := backup.FreePort()
	if err != nil {
		return err
	}
	r, err := backup.StartRecovered(ctx, scratch, port, "postgres")
	defer func() {
		backup.StopRecovered(scratch)
		if r != nil {
			os.RemoveAll(r.SocketDir)
		}
	}()
	if err != nil {
		return errors.Join(rep.FeedErr(), err)
	}
	// The member's rows are read from the database of the target's name in the
	// recovered cluster (production and its recovered copy share names).
	dbname := rep.Base.Database
	if cfg, err := pgx.ParseConfig(target); err == nil && cfg.Database != "" {
		dbname = cfg.Database
	}
	src := fmt.Sprintf("host=%s port=%d user=postgres dbname=%s", r.SocketDir, port, dbname)
	label := "as of " + strings.TrimPrefix(rep.Target, "time ") + " (point-in-time recovery from base backup " + rep.Base.ID + ")"
	mr, err := member.RestoreFromDatabase(ctx, member.Options{Target: target, MemberID: memberID, DryRun: dryRun, Log: a.log}, src, label)
	return a.finishRestore(restoreOutput{Target: pgdsn.Strip(target), Member: mr}, err, asJSON)
}
