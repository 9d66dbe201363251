package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/backup/s3"
)

const storeUsage = "want file:///abs/dir or s3://bucket/prefix?endpoint=..."

// openStore opens the snapshot store named by raw:
//
//	file:///abs/dir                      a local directory (created if missing)
//	s3://bucket/prefix?endpoint=...      an S3-compatible bucket (see s3.ParseURL)
//
// A malformed URL is a usage error (exit 2); an unreachable store, a missing bucket or
// refused credentials are plain errors (exit 1).
func openStore(ctx context.Context, raw string, log *slog.Logger) (backup.Store, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, usageError(fmt.Errorf("store: %w: %s", err, storeUsage))
	}
	shown := u.Redacted()
	switch u.Scheme {
	case "file":
		if u.Opaque != "" || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return nil, usageError(fmt.Errorf("store %q: the directory must be absolute: file:///abs/dir (three slashes)", shown))
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, usageError(fmt.Errorf("store %q: file:// takes no user, query or fragment: file:///abs/dir", shown))
		}
		st, err := file.New(filepath.Clean(u.Path))
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", shown, err)
		}
		return st, nil
	case "s3":
		warnPlaintextStore(log, raw)
		cfg, err := s3.ParseURL(raw)
		if err != nil {
			return nil, usageError(fmt.Errorf("store: %w", err))
		}
		cfg.Logger = log
		st, err := s3.New(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", cfg, err)
		}
		return st, nil
	default:
		return nil, usageError(fmt.Errorf("store %q: %s", shown, storeUsage))
	}
}

// errNoStore is the usage error of commands run without a store.
var errNoStore = usageError(errors.New("no store: set --store URL, LINKBACKUP_STORE or store: in the config file"))

// errNoSource is the usage error of commands run without a source database.
var errNoSource = usageError(errors.New("no source database: set --source DSN, LINKBACKUP_SOURCE or source: in the config file"))

// openSnapshot opens the configured store and resolves the snapshot named by args[0]
// (an id, "latest" or YYYY-MM-DD; default latest) among the snapshots of the configured
// source's database (any database when no source is configured: "latest" is then
// refused if the store holds several).
func (a *app) openSnapshot(ctx context.Context, args []string) (backup.Store, string, error) {
	return a.openSnapshotOf(ctx, args, "")
}

// openSnapshotOf is openSnapshot among the snapshots of database ("": the configured
// source's database, if any).
func (a *app) openSnapshotOf(ctx context.Context, args []string, database string) (backup.Store, string, error) {
	if database == "" {
		database = sourceDatabase(a.cfg)
	}
	if a.cfg.Store == "" {
		return nil, "", errNoStore
	}
	ref := "latest"
	if len(args) == 1 {
		ref = args[0]
	}
	st, err := openStore(ctx, a.cfg.Store, a.log)
	if err != nil {
		return nil, "", err
	}
	id, err := backup.ResolveSnapshot(ctx, st, ref, database)
	if err != nil {
		return nil, "", err
	}
	return st, id, nil
}

// sourceDatabase is the database name of the configured source ("" when none).
func sourceDatabase(c Config) string {
	if c.Source == "" {
		return ""
	}
	cfg, err := pgx.ParseConfig(string(c.Source))
	if err != nil {
		return ""
	}
	return cfg.Database
}
