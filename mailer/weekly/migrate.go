package weekly

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// DefaultSchema is the PostgreSQL schema holding River's tables and the ledger. A
// dedicated schema keeps them apart from the application's tables when the state
// lives in the source database (exclude it from snapshots: backup.exclude_schemas).
const DefaultSchema = "linkbackup_mail"

// SchemaComment is set on the state schema by Migrate.
const SchemaComment = "linkbackup state: River jobs and the weekly mail ledger (recreated by linkbackup migrate; no need to back up)"

// StateTables are the tables (LIKE patterns) Migrate creates in the state schema:
// River's and the ledger's. A backup leaves the state schema out only when it holds
// exactly these (backup.Options.StateTables).
var StateTables = []string{"river_%", "weekly_ledger", "weekly_rate", "linkbackup_migration"}

// ledgerMigrations are applied in order; each runs once (linkbackup_migration).
var ledgerMigrations = []string{
	`CREATE TABLE {S}.weekly_ledger (
  period       text NOT NULL,
  member_id    bigint NOT NULL,
  state        text NOT NULL DEFAULT 'queued'
               CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'skipped')),
  attempts     integer NOT NULL DEFAULT 0,
  recipient    text,
  message_id   text,
  size         bigint,
  last_reply   text,
  worker       text,
  download_key text,
  as_of        timestamptz,
  queued_at    timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  sent_at      timestamptz,
  PRIMARY KEY (period, member_id));
CREATE INDEX weekly_ledger_member_sent ON {S}.weekly_ledger (member_id, period) WHERE state = 'sent';
COMMENT ON TABLE {S}.weekly_ledger IS 'linkbackup: one row per member and ISO week of the weekly backup email'`,
	`CREATE TABLE {S}.weekly_rate (
  name    text PRIMARY KEY,
  next_at timestamptz NOT NULL);
INSERT INTO {S}.weekly_rate VALUES ('weekly', '-infinity');
COMMENT ON TABLE {S}.weekly_rate IS 'linkbackup: the next free send slot of the rate limit shared by all workers (mail.rate_scope: all)'`,
	// bounced: the row failed permanently (5xx, unusable address), the evidence for
	// suppression; suppressed: skipped because the address kept bouncing.
	`ALTER TABLE {S}.weekly_ledger ADD COLUMN bounced boolean NOT NULL DEFAULT false;
ALTER TABLE {S}.weekly_ledger DROP CONSTRAINT weekly_ledger_state_check;
ALTER TABLE {S}.weekly_ledger ADD CONSTRAINT weekly_ledger_state_check
  CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'skipped', 'suppressed'));
CREATE INDEX weekly_ledger_member_period ON {S}.weekly_ledger (member_id, period)`,
}

// MigrateResult lists what Migrate applied.
type MigrateResult struct {
	River  []int // River migration versions applied
	Ledger []int // ledger migration versions applied
}

// Migrate creates or upgrades River's tables (rivermigrate, one transaction per
// version) and the ledger (one transaction) in schema, under a session advisory lock:
// workers starting at once wait for each other. It is idempotent.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, log *slog.Logger) (MigrateResult, error) {
	var res MigrateResult
	if schema == "" {
		schema = DefaultSchema
	}
	s := pgx.Identifier{schema}.Sanitize()
	// River's migrations must each run in their own transaction (enum values added
	// and used), so concurrent starts are serialised by a session advisory lock.
	lock, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("weekly: migrate: %w", err)
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_lock(hashtext('linkbackup-migrate:' || $1))`, schema); err != nil {
		return res, fmt.Errorf("weekly: migrate: lock: %w", err)
	}
	defer lock.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('linkbackup-migrate:' || $1))`, schema) //nolint:errcheck
	if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s); err != nil {
		return res, fmt.Errorf("weekly: migrate: create schema %s: %w", schema, err)
	}
	// The marker lets snapshots of a source database that also holds the state
	// recognise the schema (it is rebuilt by migrations, not restored).
	if _, err := pool.Exec(ctx, `COMMENT ON SCHEMA `+s+` IS '`+SchemaComment+`'`); err != nil {
		return res, fmt.Errorf("weekly: migrate: comment on schema %s: %w", schema, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema, Logger: quiet(log)})
	if err != nil {
		return res, fmt.Errorf("weekly: migrate: %w", err)
	}
	rr, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return res, fmt.Errorf("weekly: migrate river: %w", err)
	}
	for _, v := range rr.Versions {
		res.River = append(res.River, v.Version)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("weekly: migrate: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s+`.linkbackup_migration (
  version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return res, fmt.Errorf("weekly: migrate: %w", err)
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+s+`.linkbackup_migration`).Scan(&have); err != nil {
		return res, fmt.Errorf("weekly: migrate: %w", err)
	}
	if have > len(ledgerMigrations) {
		return res, fmt.Errorf("weekly: migrate: the state database is at ledger version %d, newer than this linkbackup (%d): upgrade linkbackup", have, len(ledgerMigrations))
	}
	for v := have + 1; v <= len(ledgerMigrations); v++ {
		if _, err := tx.Exec(ctx, strings.ReplaceAll(ledgerMigrations[v-1], "{S}", s)); err != nil {
			return res, fmt.Errorf("weekly: migrate ledger v%d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.linkbackup_migration (version) VALUES ($1)`, v); err != nil {
			return res, fmt.Errorf("weekly: migrate ledger v%d: %w", v, err)
		}
		res.Ledger = append(res.Ledger, v)
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("weekly: migrate: commit: %w", err)
	}
	return res, nil
}

// quiet drops River's info-level chatter (start, stop, elections).
func quiet(log *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{log.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(a), f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(n), f.min}
}
