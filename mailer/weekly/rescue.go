package weekly

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Liveness makes a dead worker detectable at once. While a working River client
// runs, its process holds a session-level advisory lock named by the client's id on
// a connection of its own; PostgreSQL releases it the moment the session ends (the
// process exits or is killed; a vanished machine when the server's TCP keepalives,
// set short on that session, give up). Every Liveness also rescues: every
// RescueInterval it hands back the running jobs whose client's lock is free, so a
// crash costs seconds instead of RescueAfter (River's own rescuer, the backstop).
//
// A job is handed back as River's rescuer does it: "available" again with an error
// recorded, or "discarded" once its attempts are exhausted (its ledger row then
// says "failed" instead of staying "sending"). Handing back a job of a process that
// is in fact alive (its lock session broke while it kept running) cannot double a
// message: the ledger row is sent once (see the package doc).
type Liveness struct {
	cfg      *Config
	clientID string
	conn     *pgx.Conn
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex // guards conn between the loop and Close
}

// lockKey is the advisory lock of a client id: (namespace of the schema, client).
// lockKey takes the schema as $1 and the client id as $2; clientKey is the same key
// of the column client, with the schema as $1.
const (
	lockKey   = `hashtext('linkbackup-river-client:' || $1::text), hashtext($2::text)`
	clientKey = `hashtext('linkbackup-river-client:' || $1::text), hashtext(client)`
)

// Live takes the session lock of clientID (the working River client's ID) and starts
// rescuing. Call it before the client starts, so that no job is attempted by a client
// whose lock is not held; Close it after the client stopped.
func Live(ctx context.Context, cfg *Config, clientID string) (*Liveness, error) {
	cfg.defaults()
	l := &Liveness{cfg: cfg, clientID: clientID, done: make(chan struct{})}
	if err := l.lock(ctx); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.loop(lctx)
	return l, nil
}

// lock connects (outside the pool: the session must live as long as the process) and
// takes the client's lock.
func (l *Liveness) lock(ctx context.Context) error {
	cc := l.cfg.State.Config().ConnConfig.Copy()
	// A session whose machine vanished is dropped by the server after about 60 s.
	cc.RuntimeParams["tcp_keepalives_idle"] = "30"
	cc.RuntimeParams["tcp_keepalives_interval"] = "10"
	cc.RuntimeParams["tcp_keepalives_count"] = "3"
	cc.RuntimeParams["application_name"] = "linkbackup liveness " + l.clientID
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("weekly: liveness lock: %w", err)
	}
	var ok bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`, l.cfg.Schema, l.clientID).Scan(&ok); err != nil {
		c.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("weekly: liveness lock: %w", err)
	}
	if !ok {
		c.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("weekly: liveness lock of client %s is held by another session (client ids must be unique)", l.clientID)
	}
	l.mu.Lock()
	l.conn = c
	l.mu.Unlock()
	return nil
}

// loop rescues every RescueInterval (at once first) until Close.
func (l *Liveness) loop(ctx context.Context) {
	defer close(l.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.tick(ctx); err != nil && ctx.Err() == nil {
			l.cfg.Log.Warn("rescuing jobs of dead workers", "err", err)
		}
		t.Reset(l.cfg.RescueInterval)
	}
}

// tick re-takes the lock if its session was lost, then rescues.
func (l *Liveness) tick(ctx context.Context) error {
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	if c == nil || c.IsClosed() {
		l.cfg.Log.Warn("liveness lock session lost: taking the lock again (other workers may have rescued this one's jobs meanwhile)", "client", l.clientID)
		if err := l.lock(ctx); err != nil {
			return err
		}
		l.mu.Lock()
		c = l.conn
		l.mu.Unlock()
	}
	res, err := rescue(ctx, l.cfg, c, l.clientID)
	if err != nil {
		if !c.IsClosed() && !errors.Is(err, context.Canceled) {
			// Any failed statement: start afresh next time, lock included.
			c.Close(context.WithoutCancel(ctx))
		}
		return err
	}
	if res.Retried+res.Discarded > 0 {
		l.cfg.Log.Warn("handed back the running jobs of dead workers", "clients", res.Clients,
			"retried", res.Retried, "discarded", res.Discarded)
	}
	return nil
}

// Close stops rescuing and releases the lock (by ending its session).
func (l *Liveness) Close() {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.conn.Close(ctx)
		l.conn = nil
	}
}

// RescueResult counts one rescue pass.
type RescueResult struct {
	Clients   []string // dead clients whose jobs were handed back
	Retried   int      // jobs made available again
	Discarded int      // jobs at their last attempt, discarded (ledger row "failed")
}

// rescue hands back, in one transaction on c, the running weekly jobs whose client
// (the last of attempted_by) holds no liveness lock; self is never rescued. A lock
// is tested by taking and at once releasing it, in one expression.
func rescue(ctx context.Context, cfg *Config, c *pgx.Conn, self string) (RescueResult, error) {
	var res RescueResult
	job := pgx.Identifier{cfg.Schema, "river_job"}.Sanitize()
	tx, err := c.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	rows, err := tx.Query(ctx, `WITH running AS (
  SELECT DISTINCT attempted_by[array_length(attempted_by, 1)] AS client FROM `+job+`
  WHERE state = 'running' AND queue = $3 AND kind = $4),
dead AS (
  SELECT client FROM running WHERE client IS NOT NULL AND client <> $2 AND
    CASE WHEN pg_try_advisory_lock(`+clientKey+`) THEN pg_advisory_unlock(`+clientKey+`) ELSE false END)
UPDATE `+job+` j SET
  state = CASE WHEN j.attempt < j.max_attempts THEN 'available' ELSE 'discarded' END::`+pgx.Identifier{cfg.Schema, "river_job_state"}.Sanitize()+`,
  scheduled_at = now(),
  finalized_at = CASE WHEN j.attempt < j.max_attempts THEN NULL ELSE now() END,
  errors = array_append(j.errors, jsonb_build_object('at', now(), 'attempt', j.attempt,
    'error', 'rescued: worker ' || dead.client || ' died (its liveness lock is free)', 'trace', '')),
  metadata = j.metadata || jsonb_build_object('linkbackup:rescued_from', dead.client)
FROM dead
WHERE j.state = 'running' AND j.queue = $3 AND j.kind = $4 AND j.attempted_by[array_length(j.attempted_by, 1)] = dead.client
RETURNING dead.client, j.state::text, j.args->>'period', (j.args->>'member_id')::bigint, j.attempt`,
		cfg.Schema, self, Queue, Kind)
	if err != nil {
		return res, err
	}
	type last struct {
		period string
		member int64
		n      int
	}
	var discarded []last
	seen := map[string]bool{}
	for rows.Next() {
		var client, state string
		var d last
		if err := rows.Scan(&client, &state, &d.period, &d.member, &d.n); err != nil {
			rows.Close()
			return res, err
		}
		if !seen[client] {
			seen[client] = true
			res.Clients = append(res.Clients, client)
		}
		if state == "discarded" {
			res.Discarded++
			discarded = append(discarded, d)
		} else {
			res.Retried++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	for _, d := range discarded {
		if _, err := tx.Exec(ctx, `UPDATE `+cfg.table()+` SET state = 'failed', updated_at = now(),
  last_reply = $3 WHERE period = $1 AND member_id = $2 AND state = 'sending'`,
			d.period, d.member, fmt.Sprintf("gave up after %d attempts: the worker died during the last one", d.n)); err != nil {
			return res, err
		}
	}
	return res, tx.Commit(ctx)
}
