package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/jackc/pgx/v5"
)

// ConnConfig parses dsn and applies SessionSettings and an application_name.
func ConnConfig(dsn, appName string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN %s: %w", pgdsn.Strip(dsn), redactErr(err))
	}
	for k, v := range SessionSettings {
		cfg.RuntimeParams[k] = v
	}
	boundWaits(cfg)
	if len(appName) > 63 {
		appName = appName[:63]
	}
	cfg.RuntimeParams["application_name"] = appName
	return cfg, nil
}

// redactErr drops pgx's echo of the connection string from parse errors.
func redactErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "cannot parse `"); i >= 0 {
		if j := strings.LastIndex(msg, "`:"); j > i {
			return errors.New(msg[:i] + "cannot parse connection string:" + msg[j+2:])
		}
	}
	return err
}

// source is the coordinator session of a backup: it holds the lock and the exported
// snapshot, and m starts as what it read about the server.
type source struct {
	cfg   *pgx.ConnConfig // for the workers
	coord *pgx.Conn
	m     *Manifest
}

// openSource connects the coordinator, reads the server's identity into a new manifest,
// refuses a linkbackup standby copy as a source (unless allowed) and checks that
// pg_dump can dump this server. The caller closes src.coord.
func openSource(ctx context.Context, opts Options) (*source, error) {
	host, _ := os.Hostname()
	appName := fmt.Sprintf("linkbackup@%s:%d", host, os.Getpid())
	cfg, err := ConnConfig(opts.Source, appName)
	if err != nil {
		return nil, err
	}
	// Keepalives (ConnConfig) make a vanished host's lock go away within ~2 minutes.
	coord, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to source %s: %w", pgdsn.Strip(opts.Source), err)
	}
	m, err := readServer(ctx, coord, opts)
	if err != nil {
		coord.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return &source{cfg: cfg, coord: coord, m: m}, nil
}

// readServer starts the manifest with the server's facts and checks the source and pg_dump.
func readServer(ctx context.Context, coord *pgx.Conn, opts Options) (*Manifest, error) {
	m := &Manifest{Format: FormatVersion, Tool: opts.ToolVersion, Started: opts.now().UTC(), Compression: opts.Compression,
		Settings: SessionSettings, Excluded: Excluded{Schemas: opts.ExcludeSchemas, Tables: opts.ExcludeTables}}
	if opts.Compression == CompressionZstd {
		m.Format = formatZstd // readable by linkbackup before s2
	}
	if k := opts.Keys; k != nil && len(k.Recipients) > 0 {
		m.Encryption = EncryptionAge
		for _, r := range k.Recipients {
			m.Recipients = append(m.Recipients, r.Fingerprint)
		}
	}
	var comment *string
	err := coord.QueryRow(ctx, `SELECT current_database(), current_setting('server_version'),
		current_setting('server_version_num')::int, shobj_description(d.oid, 'pg_database'),
		pg_encoding_to_char(d.encoding), d.datcollate, d.datctype
		FROM pg_database d WHERE d.datname = current_database()`).
		Scan(&m.Database, &m.Server.Version, &m.Server.VersionNum, &comment, &m.Server.Encoding, &m.Server.Collate, &m.Server.Ctype)
	if err != nil {
		return nil, fmt.Errorf("read server info: %w", err)
	}
	if err := coord.QueryRow(ctx, `SELECT system_identifier::text FROM pg_control_system()`).Scan(&m.Server.SystemIdentifier); err != nil {
		opts.Log.Warn("cannot read the system identifier (pg_control_system); restores into a database of this name and standby refreshes of this snapshot will refuse unless forced to treat the target as another cluster", "err", err)
	}
	if comment != nil && strings.HasPrefix(*comment, StandbyMarkPrefix) {
		m.Server.Standby = *comment
		if !opts.AllowStandbySource {
			return nil, fixable(FixStandbySource, "", "database %s is a standby copy restored by linkbackup (%q): backing it up into "+
				"a store would mix a copy into the primary's snapshot history", m.Database, *comment)
		}
	}
	dumpMajor, dumpVersion, err := PgDumpVersion(ctx, opts.PgDump)
	if err != nil {
		return nil, err
	}
	if err := CheckPgDump(opts.PgDump, dumpMajor, m.Server.VersionNum); err != nil {
		return nil, err
	}
	m.PgDump = dumpVersion
	return m, nil
}
