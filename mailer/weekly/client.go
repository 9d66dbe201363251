package weekly

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Client is a River client set up for the weekly jobs.
type Client = river.Client[pgx.Tx]

// NewClient returns a River client on the state database. With work, it runs the
// weekly jobs (Concurrency at a time) once started; without, it only inserts.
func NewClient(cfg *Config, work bool) (*Client, error) {
	cfg.defaults()
	rc := &river.Config{
		Schema:               cfg.Schema,
		Logger:               quiet(cfg.Log),
		MaxAttempts:          cfg.MaxAttempts,
		RetryPolicy:          retryPolicy{base: cfg.RetryBase, max: cfg.RetryMax},
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		ID:                   cleanID(cfg.WorkerName),
	}
	if work {
		if cfg.Source == nil || cfg.Composer == nil || cfg.Transport == nil {
			return nil, errors.New("weekly: a working client needs a source, a composer and a transport")
		}
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &worker{cfg: cfg}); err != nil {
			return nil, err
		}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{Queue: {MaxWorkers: cfg.Concurrency}}
		// River fetches at most once per FetchCooldown; with short jobs the 100ms default
		// would cap throughput at Concurrency*10 jobs/s.
		rc.FetchCooldown = 5 * time.Millisecond
		rc.FetchPollInterval = 500 * time.Millisecond
	}
	c, err := river.NewClient(riverpgxv5.New(cfg.State), rc)
	if err != nil {
		return nil, fmt.Errorf("weekly: river client: %w", err)
	}
	return c, nil
}

// cleanID makes a River client id: River wants it short and without spaces.
func cleanID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f {
			b[i] = '_'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return fmt.Sprintf("%s_%04x", b, rand.Uint32()&0xffff)
}

// retryPolicy: exponential backoff with jitter, capped.
type retryPolicy struct{ base, max time.Duration }

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := p.base
	for i := 1; i < job.Attempt && d < p.max; i++ {
		d *= 2
	}
	d = min(d, p.max)
	d += time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
	return time.Now().Add(max(d, time.Millisecond))
}
