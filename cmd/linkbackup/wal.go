package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/clihint"
)

// exitWALAbort is wal-fetch's code for an archive it cannot trust: PostgreSQL treats an
// exit status above 125 from restore_command as fatal and stops recovery, instead of
// taking the failure for the end of the archive and promoting early.
const exitWALAbort = 254

func newWALPushCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wal-push PATH --store URL [--parallel N] [--spool-dir DIR]",
		Short: "archive_command: store WAL files (compressed, encrypted, signed), ready ones in parallel",
		Long: `Archive the WAL file at PATH (archive_command's %p) into the store under
wal/<timeline>/<name>: zstd-compressed, age-encrypted to encryption.recipients, its record
signed with signing.key_file. Exits 0 only when the file and its record are stored; a
push killed midway leaves nothing listed and the retry completes it.

With --parallel N (wal.push_parallel, default 2) the call also stores, at the same time,
the N-1 oldest other files PostgreSQL has marked ready (pg_wal/archive_status/*.ready,
timeline history files first) and writes a marker for each into --spool-dir
(wal.spool_dir; default linkbackup_spool in the data directory) once its object and
record are stored. When PostgreSQL then asks for such a file, the call checks the marker
against the file (size, time, inode) and the store (record and object) and returns at
once; on any doubt it pushes the file again. A failure to push a file ahead is logged and
left to PostgreSQL's own call for it. PostgreSQL's .ready/.done files are never changed.

Pushing a file that is already archived with the same content succeeds (PostgreSQL
retries after a crash); with other content it fails, naming both digests: two clusters
archive into one store, or a timeline was rewound.

  archive_mode = on
  archive_command = 'linkbackup wal-push %p --config /etc/linkbackup.yaml'

Exit codes: 0 stored; 1 not stored (PostgreSQL keeps the file and retries); 2 usage.`,
		Args: func(cmd *cobra.Command, args []string) error { return usageError(cobra.ExactArgs(1)(cmd, args)) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.cfg.Store == "" {
				return errNoStore
			}
			ctx := cmd.Context()
			st, keys, err := a.keyedStore(ctx)
			if err != nil {
				return err
			}
			r, err := backup.PushReadyWAL(ctx, st, args[0], keys, backup.WALPushOptions{
				Parallel: a.cfg.WAL.PushParallel, SpoolDir: a.cfg.WAL.SpoolDir, Log: a.log})
			if err != nil {
				return err
			}
			a.log.Debug("archived", "file", r.Record.Name, "stored_bytes", r.Record.Object.Size, "encrypted", r.Record.Object.Enc != "",
				"pushed_earlier", r.Early, "pushed_ahead", len(r.Ahead))
			return nil
		},
	}
	f := cmd.Flags()
	f.String("store", "", "store URL ($LINKBACKUP_STORE)")
	f.Int("parallel", 0, "files stored at once: this one and the oldest other ready ones ($LINKBACKUP_WAL_PUSH_PARALLEL)")
	f.String("spool-dir", "", "markers of files pushed ahead (default: linkbackup_spool in the data directory) ($LINKBACKUP_WAL_SPOOL_DIR)")
	a.bind(cmd, "store", "store")
	a.bind(cmd, "parallel", "wal.push_parallel")
	a.bind(cmd, "spool-dir", "wal.spool_dir")
	addKeyFlags(cmd, a, true, false)
	return cmd
}

func newWALFetchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wal-fetch NAME PATH --store URL",
		Short: "restore_command: fetch one archived WAL file, checked and decrypted",
		Long: `Restore the archived WAL file NAME (restore_command's %f) to PATH (%p): its record's
signature checked with signing.verify_keys, the stored bytes' size and SHA-256, decrypted
with encryption.identity_files, decompressed, the original SHA-256 compared, then written
atomically.

  restore_command = 'linkbackup wal-fetch %f %p --config /etc/linkbackup.yaml'

Exit codes: 0 restored; 1 not in the archive (PostgreSQL ends recovery there, as it
expects); 254 the file is in the archive but corrupt, forged or unreadable, or the store
cannot be read: PostgreSQL stops recovery instead of promoting early; 2 usage.`,
		Args: func(cmd *cobra.Command, args []string) error { return usageError(cobra.ExactArgs(2)(cmd, args)) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.cfg.Store == "" {
				return errNoStore
			}
			ctx := cmd.Context()
			keys, err := a.keys()
			if err != nil {
				return err
			}
			st, err := openStore(ctx, a.cfg.Store, a.log)
			if err != nil {
				return withCode(exitWALAbort, err)
			}
			_, err = backup.FetchWAL(ctx, st, args[0], args[1], keys)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, backup.ErrWALNotFound):
				// Expected at the end of the archive: one line, no alarm.
				fmt.Fprintln(a.stderr, "linkbackup: "+clihint.Message(err))
				return silentExit(exitError)
			default:
				return withCode(exitWALAbort, err)
			}
		},
	}
	f := cmd.Flags()
	f.String("store", "", "store URL ($LINKBACKUP_STORE)")
	a.bind(cmd, "store", "store")
	addKeyFlags(cmd, a, false, true)
	return cmd
}

func newBasebackupCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "basebackup --source DSN --store URL",
		Short: "Stream a physical base backup of the cluster into the store (for WAL recovery)",
		Long: `Stream a physical base backup of the whole cluster behind --source into the store under
base/<id>/: pg_basebackup -Ft -D - -X none (one tar on stdout, PostgreSQL's backup_manifest
inside it, so pg_verifybackup can check a restored data directory), zstd-compressed,
age-encrypted and its manifest signed like a snapshot; nothing touches the local disk.
The WAL it needs comes from the archive (wal-push): archive_mode must be on. The manifest
records the start and end LSN and the timeline.

pg_basebackup was chosen over the replication protocol from Go: it is the tool PostgreSQL
ships and tests for its own format, writes the backup_manifest, and streams one tar to
stdout for a single-tablespace cluster (the documented limit of -Ft -D -).

Exit codes: 0 stored; 1 failed (nothing listed); 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := a.cfg
			if c.Source == "" {
				return errNoSource
			}
			if c.Store == "" {
				return errNoStore
			}
			ctx := cmd.Context()
			st, keys, err := a.keyedStore(ctx)
			if err != nil {
				return err
			}
			m, err := backup.BaseBackup(ctx, backup.BaseOptions{Source: string(c.Source), Store: st, Keys: keys, ToolVersion: toolVersion()})
			if err != nil {
				return err
			}
			a.log.Info("base backup stored", "id", m.ID, "start_lsn", m.StartLSN, "stop_lsn", m.StopLSN, "timeline", m.Timeline,
				"stored_bytes", m.Tar.Size)
			_, err = fmt.Fprintln(a.stdout, m.ID)
			return err
		},
	}
	f := cmd.Flags()
	f.String("source", "", "DSN of the cluster (a role with REPLICATION) ($LINKBACKUP_SOURCE)")
	f.String("store", "", "store URL ($LINKBACKUP_STORE)")
	a.bind(cmd, "source", "source")
	a.bind(cmd, "store", "store")
	addKeyFlags(cmd, a, true, false)
	return cmd
}
