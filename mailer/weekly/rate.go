package weekly

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// sharedLimiter spaces the messages of every process that shares the state database
// to at most rate per second in all. The schedule lives in one row (weekly_rate): a
// process reserves the next leaseSpan of it with one UPDATE, then starts its messages
// 1/rate apart inside that window. Windows never overlap, so all processes together
// stay under the rate; a process that cannot use its window in time loses the rest
// of it (messages are never bunched to catch up). Times come from the state
// database's clock, so hosts whose clocks differ still share one schedule.
type sharedLimiter struct {
	pool  *pgxpool.Pool
	sql   string
	every time.Duration // 1/rate
	span  time.Duration // one lease: rate*leaseSpan slots, at least one

	mu       sync.Mutex
	next     time.Time // local time of the next slot in the lease
	leaseEnd time.Time // local time the lease ends
}

// leaseSpan is the share of the schedule reserved at once: one statement per
// rate*leaseSpan messages, and the longest another process waits for this one's
// unused window.
const leaseSpan = 250 * time.Millisecond

// reserveTimeout bounds one reservation statement.
const reserveTimeout = 10 * time.Second

func newSharedLimiter(pool *pgxpool.Pool, table string, perSecond float64) *sharedLimiter {
	every := time.Duration(float64(time.Second) / perSecond)
	slots := max(1, math.Round(perSecond*leaseSpan.Seconds()))
	return &sharedLimiter{
		pool:  pool,
		every: every,
		span:  time.Duration(slots) * every,
		sql: `UPDATE ` + table + ` SET next_at = greatest(next_at, clock_timestamp()) + $1::bigint * interval '1 microsecond'
WHERE name = 'weekly' RETURNING next_at, clock_timestamp()`,
	}
}

// Wait returns when the caller may start one message.
func (l *sharedLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	if !slot.Before(l.leaseEnd) {
		// Other jobs wait on the mutex meanwhile, so the statement gets a bound of
		// its own, not only the job's.
		var end, dbNow time.Time
		qctx, cancel := context.WithTimeout(ctx, reserveTimeout)
		err := l.pool.QueryRow(qctx, l.sql, l.span.Microseconds()).Scan(&end, &dbNow)
		cancel()
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("weekly: shared rate limit: %w", err)
		}
		local := time.Now()
		l.leaseEnd = local.Add(end.Sub(dbNow))
		slot = l.leaseEnd.Add(-l.span)
		if slot.Before(local) {
			slot = local
		}
	}
	l.next = slot.Add(l.every)
	l.mu.Unlock()
	t := time.NewTimer(time.Until(slot))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
