package weekly

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"

	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/mailer"
)

// Config is what workers and Enqueue need. Zero durations and sizes take the
// defaults named on each field.
type Config struct {
	State  *pgxpool.Pool // River's tables and the ledger
	Schema string        // default DefaultSchema
	Source *pgxpool.Pool // members, folders, links
	// Queries select members and read their rows (export/pgsource); zero fields take
	// the reference schema's defaults.
	Queries   pgsource.Queries
	Composer  *mailer.Composer
	Transport mailer.Transport
	// Rate is the most messages per second started by all processes sharing the
	// state database together (0: unlimited), or by this process alone with
	// RatePerProcess. The wait happens before the ledger transaction opens, so
	// waiting jobs hold no database connection.
	Rate           float64
	RatePerProcess bool
	// Linker uploads zips above MaxAttachment and returns their download URL. Nil:
	// large zips are attached anyway.
	Linker Linker
	// MaxAttachment is the largest zip attached (bytes); larger ones go through
	// Linker. Default 10 MB.
	MaxAttachment int64
	// Concurrency is the number of jobs run at once per process. Default 8.
	Concurrency int
	// MaxAttempts bounds the deliveries tried per member and period. Default 8.
	MaxAttempts int
	// RetryBase and RetryMax shape the backoff: RetryBase * 2^(attempt-1), at most
	// RetryMax, ±10% jitter. Defaults 30s and 1h.
	RetryBase, RetryMax time.Duration
	// JobTimeout bounds one job (render + send). Default 5m.
	JobTimeout time.Duration
	// RescueAfter: a job running longer than this is taken to belong to a dead worker
	// and is retried (River's rescuer). Must exceed JobTimeout. Default 15m.
	RescueAfter time.Duration
	// SuppressAfter: a member whose address failed permanently (5xx, unusable) in
	// their last SuppressAfter periods is skipped ("suppressed") until the address
	// changes. Default 2; negative: never.
	SuppressAfter int
	// RescueInterval is how often Liveness looks for running jobs of dead workers
	// (processes whose liveness lock is free). Default 2s.
	RescueInterval time.Duration
	// WorkerName is recorded in the ledger. Default host:pid.
	WorkerName string
	// ZipLevel is the deflate level (export.ZipOptions). Default export.DefaultZipLevel.
	ZipLevel int
	Log      *slog.Logger
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time

	limiter interface{ Wait(context.Context) error }
}

func (c *Config) defaults() {
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.MaxAttachment <= 0 {
		c.MaxAttachment = 10_000_000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 30 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Hour
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 5 * time.Minute
	}
	if c.RescueAfter <= c.JobTimeout {
		c.RescueAfter = max(15*time.Minute, c.JobTimeout+time.Minute)
	}
	if c.SuppressAfter == 0 {
		c.SuppressAfter = 2
	}
	if c.RescueInterval <= 0 {
		c.RescueInterval = 2 * time.Second
	}
	if c.WorkerName == "" {
		h, _ := os.Hostname()
		c.WorkerName = fmt.Sprintf("%s:%d", h, os.Getpid())
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rate > 0 && c.limiter == nil {
		if c.RatePerProcess {
			c.limiter = rate.NewLimiter(rate.Limit(c.Rate), 1)
		} else {
			c.limiter = newSharedLimiter(c.State, pgx.Identifier{c.Schema, "weekly_rate"}.Sanitize(), c.Rate)
		}
	}
}

// table returns the schema-qualified ledger table.
func (c *Config) table() string { return pgx.Identifier{c.Schema, "weekly_ledger"}.Sanitize() }
