package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/mailer/weekly"
)

// newBackupCmd is over 80 lines only for its help text and flag list; the work is in
// backup.Backup.
func newBackupCmd(a *app) *cobra.Command {
	var allowStandby bool
	cmd := &cobra.Command{
		Use:   "backup --source DSN --store URL [--jobs N]",
		Short: "Take one consistent snapshot of a PostgreSQL database into a store",
		Long: `Take one consistent snapshot of a PostgreSQL database into a store.

All tables of all non-system schemas are copied in parallel under one exported snapshot
(binary COPY for tables whose column types all have a portable binary form, COPY text
for the rest or for all with --copy-format text; compressed with zstd or s2 (--compression), streamed into the
store without local files); the schema
comes from pg_dump --schema-only under the same snapshot. Every object gets a SHA-256,
every table a row count and an order-independent row digest. The manifest is written
last: a snapshot without one does not exist. Prints the new snapshot id on stdout.

With --recipient / --recipients-file (encryption.recipients) every object holding rows or
schema SQL is age-encrypted after compression; the manifest stays readable (ids, sizes,
counts, table names). With --signing-key (signing.key_file) the manifest is signed
(Ed25519, manifest.sig), so readers with the verify key refuse a forged snapshot.
linkbackup keygen creates both key pairs.

One backup per database and store at a time (a PostgreSQL advisory lock on the source;
released when the session ends, so a crashed run never blocks the next one).

Exit codes: 0 the manifest is written; 1 anything failed (nothing is listed); 2 usage.`,
		Args: cobra.NoArgs,
		RunE: bounded(a, func(cmd *cobra.Command, _ []string) error {
			c := a.cfg
			if c.Source == "" {
				return errNoSource
			}
			if c.Store == "" {
				return errNoStore
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, c.Store, a.log)
			if err != nil {
				return err
			}
			if _, err := a.keys(); err != nil {
				return err
			}
			progress := &backup.Progress{}
			stop := showProgress(ctx, a.stderr, "backup", progress)
			o := backupOptions(c, st, a)
			o.AllowStandbySource = allowStandby
			o.Progress = progress
			m, err := backup.Backup(ctx, o)
			stop()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, m.ID)
			return err
		}),
	}
	f := cmd.Flags()
	f.String("source", "", "DSN of the database to back up ($LINKBACKUP_SOURCE)")
	f.String("store", "", "store URL: file:///abs/dir or s3://bucket/prefix?endpoint=... ($LINKBACKUP_STORE)")
	f.Int("jobs", 0, "parallel COPY workers, one connection each ($LINKBACKUP_BACKUP_JOBS)")
	f.String("pg-dump", "", "pg_dump binary, major version >= the server's ($LINKBACKUP_BACKUP_PG_DUMP)")
	f.StringSlice("exclude-schema", nil, "schemas to leave out, comma-separated ($LINKBACKUP_BACKUP_EXCLUDE_SCHEMAS)")
	f.StringSlice("exclude-table", nil, "schema.table (or schema.*) whose data to leave out ($LINKBACKUP_BACKUP_EXCLUDE_TABLES)")
	f.Int("split-table-mb", 0, "copy tables larger than this (MiB on disk) as parallel ranges")
	f.String("compression", "", "codec of the snapshot's objects: zstd (smallest, readable with zstd -d) or s2 (~1/3 of the CPU, ~30% larger) ($LINKBACKUP_BACKUP_COMPRESSION)")
	f.Int("compression-level", 0, "zstd level 1..22 (s2 has none)")
	f.String("copy-format", "", "auto: binary COPY for tables of built-in types only (faster), text for the rest; text: all text")
	f.Duration("lock-timeout", 0, "wait this long for a running backup of the same database before refusing")
	f.Bool("skip-large-objects", false, "leave large objects out (their number is recorded in the manifest); by default they are backed up")
	f.BoolVar(&allowStandby, "allow-standby-source", false, "back up a database marked as a linkbackup standby copy")
	f.Duration("deadline", 0, "stop the run cleanly after this long, saying which step it was at (default 3h; 0: none)")
	a.bind(cmd, "deadline", "deadline")
	a.bind(cmd, "source", "source")
	a.bind(cmd, "store", "store")
	a.bind(cmd, "jobs", "backup.jobs")
	addKeyFlags(cmd, a, true, false)
	a.bind(cmd, "pg-dump", "backup.pg_dump")
	a.bind(cmd, "exclude-schema", "backup.exclude_schemas")
	a.bind(cmd, "exclude-table", "backup.exclude_tables")
	a.bind(cmd, "split-table-mb", "backup.split_table_mb")
	a.bind(cmd, "compression", "backup.compression")
	a.bind(cmd, "compression-level", "backup.compression_level")
	a.bind(cmd, "copy-format", "backup.copy_format")
	a.bind(cmd, "lock-timeout", "backup.lock_timeout")
	a.bind(cmd, "skip-large-objects", "backup.skip_large_objects")
	return cmd
}

// backupOptions are the options of a backup built from the config (backup and nightly).
func backupOptions(c Config, st backup.Store, a *app) backup.Options {
	return backup.Options{
		Keys:                a.keyring,
		Source:              string(c.Source),
		Store:               st,
		Jobs:                c.Backup.Jobs,
		PgDump:              c.Backup.PgDump,
		ExcludeSchemas:      c.Backup.ExcludeSchemas,
		ExcludeTables:       c.Backup.ExcludeTables,
		SplitTableBytes:     int64(c.Backup.SplitTableMB) << 20,
		Compression:         c.Backup.Compression,
		CompressionLevel:    c.Backup.CompressionLevel,
		TextFormat:          c.Backup.CopyFormat == "text",
		AppVersionQuery:     c.Backup.AppVersionQuery,
		LockTimeout:         c.Backup.LockTimeout,
		OrphanAge:           c.Backup.OrphanAge,
		SkipLargeObjects:    c.Backup.SkipLargeObjects,
		IncludeStateSchemas: c.Backup.IncludeStateSchemas,
		WALPoint:            c.Backup.WALPoint,
		WALPointTimeout:     c.Backup.WALPointTimeout,
		StateSchema:         c.Mail.Schema,
		StateTables:         weekly.StateTables,
		ToolVersion:         toolVersion(),
		Log:                 a.log,
	}
}
