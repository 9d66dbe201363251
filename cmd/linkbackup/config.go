package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

// Config is the whole configuration. Every field has a YAML key (the `yaml` tag, nested
// with dots), an environment variable LINKBACKUP_<KEY> (dots become underscores, upper
// case) and, for most, a flag. Defaults are in DefaultConfig.
type Config struct {
	// Source is the DSN of the database to snapshot (libpq URL or key=value). Default: "".
	// Its password is redacted in every log and error; prefer PGPASSFILE or PGPASSWORD.
	Source DSN `yaml:"source"`
	// Store is the snapshot store URL: file:///abs/dir or
	// s3://bucket/prefix?endpoint=http://host:port&path_style=true&region=us-east-1
	// (more query options in README). Default: "".
	Store string `yaml:"store"`
	// Backup tunes `linkbackup backup`.
	Backup BackupConfig `yaml:"backup"`
	// Export tunes `linkbackup export`.
	Export ExportConfig `yaml:"export"`
	// Standby configures the standby server refreshed by `linkbackup standby` and `nightly`.
	Standby StandbyConfig `yaml:"standby"`
	// Encryption: the keys snapshots are encrypted to (backup host) and decrypted with
	// (restore and standby hosts).
	Encryption EncryptionConfig `yaml:"encryption"`
	// Signing: the key manifests are signed with (backup host) and the keys readers
	// verify them with.
	Signing SigningConfig `yaml:"signing"`
	// Drill configures the invariants checked on every restored standby copy before it
	// is served, and by `linkbackup check`.
	Drill DrillConfig `yaml:"drill"`
	// Status holds the thresholds of `linkbackup status`.
	Status StatusConfig `yaml:"status"`
	// Nightly configures `linkbackup nightly` (what cron runs).
	Nightly NightlyConfig `yaml:"nightly"`
	// Retention is the policy of `linkbackup forget` and nightly's forget step.
	Retention RetentionConfig `yaml:"retention"`
	// Mail configures the weekly backup email (export --mail, worker, migrate).
	Mail MailConfig `yaml:"mail"`
	// Deadline bounds one run of backup, standby, restore and nightly (--deadline): when
	// it passes, the run stops cleanly and says which step it was at. 0: none. Default 3h.
	Deadline time.Duration `yaml:"deadline"`
	// Serve configures `linkbackup serve`.
	Serve ServeConfig `yaml:"serve"`
	// WAL tunes `linkbackup wal-push` (archive_command).
	WAL WALConfig `yaml:"wal"`
}

// WALConfig tunes `linkbackup wal-push`.
type WALConfig struct {
	// PushParallel: how many WAL files one wal-push stores at once, the one PostgreSQL
	// asked for included; the others are the oldest files PostgreSQL has marked ready
	// (pg_wal/archive_status/*.ready), and PostgreSQL's calls for them return at once.
	// 1: one file per call. Default 2.
	PushParallel int `yaml:"push_parallel"`
	// SpoolDir holds the markers of files pushed ahead (one small JSON file each).
	// Default "": linkbackup_spool in the data directory (next to pg_wal).
	SpoolDir string `yaml:"spool_dir"`
}

// ServeConfig configures `linkbackup serve` (unsubscribe, status page, metrics).
type ServeConfig struct {
	// Listen is the address served. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token (first line) that the status page and /metrics
	// require; without one they answer loopback clients only. Default "".
	TokenFile string `yaml:"token_file"`
}

// DrillConfig configures the invariants of the standby drill and of `linkbackup check`.
type DrillConfig struct {
	// Invariants are named SQL checks, each returning the rows that violate it (the first
	// column is shown as the row id). Absent: the reference bookmark schema's checks when
	// the snapshot has that schema (docs/operations.md, "Invariants"); [] : none. YAML
	// only (no environment variable); write $$ for a literal $.
	Invariants []backup.Invariant `yaml:"invariants"`
	// Timeout is the time limit of a check without its own. Default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// RowDropPercent: a table that had at least RowDropMinRows rows on the served copy
	// and lost more than this percentage of them overnight is critical. Default 20; 0 off.
	RowDropPercent float64 `yaml:"row_drop_percent"`
	// RowDropMinRows: smaller tables are not checked for drops. Default 1000.
	RowDropMinRows int64 `yaml:"row_drop_min_rows"`
	// PITR: the nightly point-in-time proof (recover the newest base backup plus the
	// archived WAL to exactly the night's snapshot in a scratch cluster, compare every
	// table with it). "auto" runs it when the store holds a base backup, "required" also
	// fails the night when it holds none, "off" never runs it. Default auto.
	PITR string `yaml:"pitr"`
	// PITRDir is where the scratch data directory goes (room for one base backup plus
	// the replayed WAL). Default "" (the system's temp directory).
	PITRDir string `yaml:"pitr_dir"`
	// PITRWait: how long the proof waits for the WAL holding the snapshot's point to be
	// archived. Default 5m.
	PITRWait time.Duration `yaml:"pitr_wait"`
}

// StandbyConfig configures the standby refresh.
type StandbyConfig struct {
	// Server is the DSN of the standby PostgreSQL server on a maintenance database (e.g.
	// postgres), not the standby copy itself. Default "" (no standby: nightly skips it).
	Server DSN `yaml:"server"`
	// Database is the serving database name on the standby. Default "" (the snapshot's
	// source database name).
	Database string `yaml:"database"`
	// Grace: how long sessions on the serving copy may finish before the swap terminates
	// them. Default 30s.
	Grace time.Duration `yaml:"grace"`
	// Jobs is the number of parallel restore sessions. Default 4.
	Jobs int `yaml:"jobs"`
	// Tablespace the standby copies are created in. Default "" (the server's default).
	Tablespace string `yaml:"tablespace"`
	// ToastCompression is how the standby copy compresses values stored out of line
	// (TOAST) whose column names no method: "lz4" (loads and reads back several times
	// faster than pglz; the values are the same), "pglz", or "" for the standby server's
	// default_toast_compression. A server built without lz4 loads with its default.
	// Default "lz4".
	ToastCompression string `yaml:"toast_compression"`
}

// StatusConfig holds the thresholds of `linkbackup status`. Ages are measured from the
// snapshot's start (the moment its data is consistent).
type StatusConfig struct {
	// SnapshotWarnAge: latest snapshot older than this is WARNING. Default 25h.
	SnapshotWarnAge time.Duration `yaml:"snapshot_warn_age"`
	// SnapshotCritAge: latest snapshot older than this is CRITICAL. Default 49h.
	SnapshotCritAge time.Duration `yaml:"snapshot_crit_age"`
	// StandbyWarnAge: standby's verified data older than this is WARNING. Default 25h.
	StandbyWarnAge time.Duration `yaml:"standby_warn_age"`
	// StandbyCritAge: standby's verified data older than this is CRITICAL. Default 26h.
	StandbyCritAge time.Duration `yaml:"standby_crit_age"`
	// WALWarnAge / WALCritAge: when the store holds archived WAL (wal-push), its newest
	// segment older than this is WARNING / CRITICAL: the point-in-time recovery would lose
	// that much. Set archive_timeout well below them. Defaults 15m / 1h.
	WALWarnAge time.Duration `yaml:"wal_warn_age"`
	WALCritAge time.Duration `yaml:"wal_crit_age"`
	// PITRWarnAge / PITRCritAge: when the store holds a base backup, the newest point
	// proven by the nightly point-in-time proof older than this is WARNING / CRITICAL.
	// Defaults 25h / 49h.
	PITRWarnAge time.Duration `yaml:"pitr_warn_age"`
	PITRCritAge time.Duration `yaml:"pitr_crit_age"`
	// Timeout bounds the whole check (store and standby reads). Default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// MailFailedCrit: CRITICAL when more than this percentage of the members selected
	// for the weekly email failed permanently. Default 5.
	MailFailedCrit float64 `yaml:"mail_failed_crit"`
	// MailDue: WARNING when the week's email has not finished by this weekday and hour
	// (UTC), e.g. "Monday 12:00". Default "Monday 12:00"; "" never warns.
	MailDue string `yaml:"mail_due"`
	// PrometheusFile, if set, is a node_exporter textfile written atomically by status
	// and at the end of nightly. Default "".
	PrometheusFile string `yaml:"prometheus_file"`
}

// NightlyConfig configures `linkbackup nightly`.
type NightlyConfig struct {
	// HeartbeatURL is a healthchecks.io-style ping URL: <url>/start, <url>, <url>/fail.
	// Treated as a secret (never logged). Default "" (no pings).
	HeartbeatURL Secret `yaml:"heartbeat_url"`
	// HeartbeatTimeout bounds each ping; a failed ping never fails the job. Default 10s.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
}

// BackupConfig tunes snapshots.
type BackupConfig struct {
	// Jobs is the number of parallel COPY workers (each one connection). Default 4.
	Jobs int `yaml:"jobs"`
	// PgDump is the pg_dump binary; its major version must be >= the server's. Default "pg_dump".
	PgDump string `yaml:"pg_dump"`
	// ExcludeSchemas are schema names not backed up. Default none.
	ExcludeSchemas []string `yaml:"exclude_schemas"`
	// ExcludeTables are "schema.table" names whose data is not backed up (their definition
	// still is). Default none.
	ExcludeTables []string `yaml:"exclude_tables"`
	// SplitTableMB: tables larger than this many MiB on disk are copied as several ranges
	// in parallel. Default 64.
	SplitTableMB int `yaml:"split_table_mb"`
	// Compression is the codec of the snapshot's objects: "zstd" (smallest, readable by
	// hand with zstd -d) or "s2" (about a third of zstd's CPU, objects about 30 % larger;
	// decompresses faster). Default zstd. WAL segments and base backups are always zstd.
	Compression string `yaml:"compression"`
	// CompressionLevel is the zstd level: 1 (fastest), 3 (default), 6 (better), 11 (best).
	// s2 has no levels. Default 1.
	CompressionLevel int `yaml:"compression_level"`
	// CopyFormat: "auto" stores tables whose column types are all built in (no enums,
	// domains, extension types or reg* types) in binary COPY format, which PostgreSQL
	// writes, reads back and loads faster than text, and the rest as text; "text" stores
	// every table as COPY text (readable with zstd -dc). Default auto.
	CopyFormat string `yaml:"copy_format"`
	// AppVersionQuery is a SQL query returning one text value stamped into the manifest
	// (e.g. "SELECT max(version) FROM schema_migrations"). Default "" (none).
	AppVersionQuery string `yaml:"app_version_query"`
	// LockTimeout: how long to wait for another backup of the same database to the same
	// store to finish before refusing. Default 0 (refuse at once).
	LockTimeout time.Duration `yaml:"lock_timeout"`
	// OrphanAge: incomplete snapshots (no manifest) older than this are deleted by the next
	// backup or forget, which also aborts incomplete multipart uploads older than this.
	// Default 24h.
	OrphanAge time.Duration `yaml:"orphan_age"`
	// SkipLargeObjects leaves large objects out of the snapshot (their number is recorded
	// in the manifest). Default false: they are backed up, restored and proven.
	SkipLargeObjects bool `yaml:"skip_large_objects"`
	// IncludeStateSchemas backs up linkbackup's own state schema (mail.schema: River jobs
	// and the mail ledger, marked by linkbackup migrate) when it lives in the source.
	// Default false: it is left out (linkbackup migrate recreates it), but only while it
	// holds exactly those tables; no other schema is left out for its comment.
	IncludeStateSchemas bool `yaml:"include_state_schemas"`
	// WALPoint: "auto" takes the snapshot from a temporary logical replication slot when
	// the source runs wal_level = logical and the role has REPLICATION, which gives the
	// snapshot an exact WAL position for the nightly point-in-time proof; "required"
	// fails the backup when it cannot; "off" never creates a slot. Default auto.
	WALPoint string `yaml:"wal_point"`
	// WALPointTimeout bounds how long creating the slot waits for the transactions
	// running at that moment; in auto mode the backup then goes on without a WAL
	// position (logged). Default 30s.
	WALPointTimeout time.Duration `yaml:"wal_point_timeout"`
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		Backup: BackupConfig{
			Jobs:             4,
			PgDump:           "pg_dump",
			SplitTableMB:     64,
			Compression:      backup.DefaultCompression,
			CompressionLevel: 1,
			CopyFormat:       "auto",
			OrphanAge:        24 * time.Hour,
			WALPoint:         backup.WALPointAuto,
			WALPointTimeout:  30 * time.Second,
		},
		Export:  DefaultExportConfig(),
		Standby: StandbyConfig{Grace: 30 * time.Second, Jobs: 4, ToastCompression: "lz4"},
		Drill: DrillConfig{Timeout: 60 * time.Second, RowDropPercent: 20, RowDropMinRows: 1000,
			PITR: "auto", PITRWait: 5 * time.Minute},
		Status: StatusConfig{SnapshotWarnAge: 25 * time.Hour, SnapshotCritAge: 49 * time.Hour,
			StandbyWarnAge: 25 * time.Hour, StandbyCritAge: 26 * time.Hour, Timeout: 60 * time.Second,
			WALWarnAge: 15 * time.Minute, WALCritAge: time.Hour,
			PITRWarnAge: 25 * time.Hour, PITRCritAge: 49 * time.Hour,
			MailFailedCrit: 5, MailDue: "Monday 12:00"},
		Nightly:   NightlyConfig{HeartbeatTimeout: 10 * time.Second},
		Retention: DefaultRetentionConfig(),
		Mail:      DefaultMailConfig(),
		// Deadline: the nightly's systemd TimeoutStartSec is 4h; stop cleanly before it.
		Deadline: 3 * time.Hour,
		Serve:    ServeConfig{Listen: "127.0.0.1:8080"},
		WAL:      WALConfig{PushParallel: 2},
	}
}

// Validate checks value ranges with field-specific messages. Whether a field is required
// depends on the command; commands check that themselves.
func (c *Config) Validate() error {
	var errs []error
	if c.Deadline < 0 {
		errs = append(errs, fmt.Errorf("deadline (--deadline) = %s: want >= 0 (0: none)", c.Deadline))
	}
	if c.Backup.Jobs < 1 || c.Backup.Jobs > 64 {
		errs = append(errs, fmt.Errorf("backup.jobs (--jobs) = %d: want 1..64", c.Backup.Jobs))
	}
	if c.Backup.SplitTableMB < 1 {
		errs = append(errs, fmt.Errorf("backup.split_table_mb = %d: want >= 1", c.Backup.SplitTableMB))
	}
	if f := c.Backup.CopyFormat; f != "auto" && f != "text" {
		errs = append(errs, fmt.Errorf("backup.copy_format = %q: want auto or text", f))
	}
	if v := c.Backup.Compression; !slices.Contains(backup.Compressions, v) {
		errs = append(errs, fmt.Errorf("backup.compression = %q: want one of %s", v, strings.Join(backup.Compressions, ", ")))
	}
	if l := c.Backup.CompressionLevel; l < 1 || l > 22 {
		errs = append(errs, fmt.Errorf("backup.compression_level = %d: want 1..22", l))
	}
	if c.Store != "" {
		if u, err := url.Parse(c.Store); err != nil || (u.Scheme != "file" && u.Scheme != "s3") {
			errs = append(errs, fmt.Errorf("store (--store) %q: want file:///abs/dir or s3://bucket/prefix?endpoint=URL", c.Store))
		}
	}
	if p := c.Backup.WALPoint; p != backup.WALPointAuto && p != backup.WALPointRequired && p != backup.WALPointOff {
		errs = append(errs, fmt.Errorf("backup.wal_point = %q: want auto, required or off", p))
	}
	if c.Backup.WALPointTimeout <= 0 {
		errs = append(errs, fmt.Errorf("backup.wal_point_timeout = %s: want > 0", c.Backup.WALPointTimeout))
	}
	if p := c.Drill.PITR; p != "auto" && p != "required" && p != "off" {
		errs = append(errs, fmt.Errorf("drill.pitr = %q: want auto, required or off", p))
	}
	if c.Drill.PITRWait <= 0 {
		errs = append(errs, fmt.Errorf("drill.pitr_wait = %s: want > 0", c.Drill.PITRWait))
	}
	if s := c.Status; s.PITRWarnAge <= 0 || s.PITRCritAge < s.PITRWarnAge {
		errs = append(errs, fmt.Errorf("status.pitr_warn_age = %s, status.pitr_crit_age = %s: want 0 < warn <= crit", s.PITRWarnAge, s.PITRCritAge))
	}
	if c.Standby.Jobs < 1 || c.Standby.Jobs > 64 {
		errs = append(errs, fmt.Errorf("standby.jobs (--jobs) = %d: want 1..64", c.Standby.Jobs))
	}
	if d := c.Drill; d.Timeout <= 0 || d.RowDropPercent < 0 || d.RowDropPercent > 100 || d.RowDropMinRows < 0 {
		errs = append(errs, fmt.Errorf("drill.timeout = %s, drill.row_drop_percent = %g, drill.row_drop_min_rows = %d: "+
			"want timeout > 0, 0 <= percent <= 100, min rows >= 0", d.Timeout, d.RowDropPercent, d.RowDropMinRows))
	}
	if err := backup.ValidateInvariants(context.Background(), nil, c.Drill.Invariants); err != nil {
		errs = append(errs, fmt.Errorf("drill.invariants: %w", err))
	}
	if n := c.WAL.PushParallel; n < 1 || n > 64 {
		errs = append(errs, fmt.Errorf("wal.push_parallel (--parallel) = %d: want 1..64", n))
	}
	switch c.Standby.ToastCompression {
	case "", "lz4", "pglz":
	default:
		errs = append(errs, fmt.Errorf("standby.toast_compression = %q: want lz4, pglz or \"\" (the server's default)", c.Standby.ToastCompression))
	}
	if c.Standby.Grace < 0 {
		errs = append(errs, fmt.Errorf("standby.grace (--grace) = %s: want >= 0", c.Standby.Grace))
	}
	if s := c.Status; s.SnapshotWarnAge <= 0 || s.SnapshotCritAge < s.SnapshotWarnAge {
		errs = append(errs, fmt.Errorf("status.snapshot_warn_age = %s, status.snapshot_crit_age = %s: want 0 < warn <= crit", s.SnapshotWarnAge, s.SnapshotCritAge))
	}
	if s := c.Status; s.WALWarnAge <= 0 || s.WALCritAge < s.WALWarnAge {
		errs = append(errs, fmt.Errorf("status.wal_warn_age = %s, status.wal_crit_age = %s: want 0 < warn <= crit", s.WALWarnAge, s.WALCritAge))
	}
	if s := c.Status; s.StandbyWarnAge <= 0 || s.StandbyCritAge < s.StandbyWarnAge {
		errs = append(errs, fmt.Errorf("status.standby_warn_age = %s, status.standby_crit_age = %s: want 0 < warn <= crit", s.StandbyWarnAge, s.StandbyCritAge))
	}
	if p := c.Status.MailFailedCrit; p < 0 || p > 100 {
		errs = append(errs, fmt.Errorf("status.mail_failed_crit = %g: want a percentage 0..100", p))
	}
	if _, err := parseMailDue(c.Status.MailDue); err != nil {
		errs = append(errs, fmt.Errorf("status.mail_due: %w", err))
	}
	if c.Status.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("status.timeout = %s: want > 0", c.Status.Timeout))
	}
	if c.Nightly.HeartbeatTimeout <= 0 {
		errs = append(errs, fmt.Errorf("nightly.heartbeat_timeout = %s: want > 0", c.Nightly.HeartbeatTimeout))
	}
	if h := string(c.Nightly.HeartbeatURL); h != "" {
		if u, err := url.Parse(h); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("nightly.heartbeat_url: want an http(s):// URL (value not shown: it is a secret)"))
		}
	}
	if err := c.Export.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Retention.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
