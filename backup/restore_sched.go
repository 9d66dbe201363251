package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The restore of a whole snapshot runs as a graph of steps, the way pg_restore's
// parallel scheduler does: a table's indexes, its proof and its ANALYZE start as soon as
// that table is loaded, a foreign key as soon as both of its tables have their keys, so
// that one large table does not leave the other sessions idle at a phase barrier. The
// scheduler never starts two steps whose table locks conflict (one would only wait for
// the other on the server, holding a session).

// lockMode is a table lock a restore step takes, in PostgreSQL's order of strength.
type lockMode uint8

const (
	lockAccessShare          lockMode = iota + 1 // COPY TO (the proof)
	lockRowExclusive                             // COPY FROM
	lockShareUpdateExclusive                     // ANALYZE
	lockShare                                    // CREATE INDEX
	lockShareRowExclusive                        // ADD FOREIGN KEY (on both tables)
	lockAccessExclusive                          // TRUNCATE, ADD PRIMARY KEY/UNIQUE building its index
)

// conflicts is PostgreSQL's table-lock conflict table for these modes.
func (a lockMode) conflicts(b lockMode) bool {
	if a > b {
		a, b = b, a
	}
	switch a {
	case lockAccessShare:
		return b == lockAccessExclusive
	case lockRowExclusive:
		return b >= lockShare
	case lockShare:
		return b >= lockShareRowExclusive
	default: // share update exclusive, share row exclusive, access exclusive
		return true
	}
}

type tableLock struct {
	table string // tableKey
	mode  lockMode
}

// tableKey names a table for the scheduler: schema and name, unquoted.
func tableKey(schema, name string) string { return schema + "\x00" + name }

// session flavours: a step runs on a session opened for its flavour.
const (
	flavourPlain = iota // the restore's session settings: data, proof, ANALYZE
	flavourPost         // with pg_dump's preamble and the index build settings: post-data
	flavours
)

// step is one unit of a restore: a table's load, an index, a foreign key, a proof range,
// an ANALYZE.
type step struct {
	phase   string // the phase it counts to (see restoreRun.phase names)
	what    string
	flavour int
	locks   []tableLock
	// exclusive: the step touches tables the scheduler does not know; it runs alone.
	exclusive bool
	// post: a post-data step; its failure is reported after the proof (bad rows can
	// break a constraint; the proof names the table), and stops the other post-data steps.
	post bool
	rank int   // lower first among ready steps
	size int64 // larger first within a rank
	run  func(ctx context.Context, conn *pgx.Conn) ([]*step, error)

	waits int     // unfinished steps this one comes after
	then  []*step // steps that come after this one
}

// after makes s wait for every non-nil dep.
func (s *step) after(deps ...*step) {
	for _, d := range deps {
		if d != nil {
			d.then = append(d.then, s)
			s.waits++
		}
	}
}

func (s *step) conflicts(o *step) bool {
	if s.exclusive || o.exclusive {
		return true
	}
	for _, a := range s.locks {
		for _, b := range o.locks {
			if a.table == b.table && a.mode.conflicts(b.mode) {
				return true
			}
		}
	}
	return false
}

// phaseClock records, per phase, when its last step ended and how many session-seconds
// its steps took.
type phaseClock struct {
	start time.Time
	end   map[string]time.Duration
	busy  map[string]time.Duration
}

// scheduler runs steps on up to jobs workers, each with one session per flavour
// (opened on first use).
type scheduler struct {
	open    [flavours]func(context.Context) (*pgx.Conn, error)
	log     *slog.Logger // each step's start and end at debug level (nil: none)
	mu      sync.Mutex
	wake    *sync.Cond
	ready   []*step
	running []*step
	left    int   // steps not finished (waiting, ready or running)
	err     error // the first failure of a non-post step: everything stops
	postErr error // the first failure of a post-data step
	clock   phaseClock
}

// runSteps runs every step of all (and those they add) after their dependencies; it
// returns the first failure of a data, proof or analyze step (which stops the rest),
// else the first failure of a post-data step (the other post-data steps are then
// skipped, the proof still runs to its end) as postErr.
func (sc *scheduler) runSteps(ctx context.Context, jobs int, all []*step) (postErr error, err error) {
	sc.wake = sync.NewCond(&sc.mu)
	sc.clock = phaseClock{start: time.Now(), end: map[string]time.Duration{}, busy: map[string]time.Duration{}}
	sc.left = len(all)
	for _, s := range all {
		if s.waits == 0 {
			sc.ready = append(sc.ready, s)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		sc.mu.Lock()
		if sc.err == nil {
			sc.err = ctx.Err()
		}
		sc.mu.Unlock()
		sc.wake.Broadcast()
	})
	defer stop()
	var wg sync.WaitGroup
	for w := 0; w < max(jobs, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc.worker(ctx, cancel)
		}()
	}
	wg.Wait()
	if sc.err != nil {
		return sc.postErr, sc.err
	}
	if sc.left != 0 {
		return sc.postErr, fmt.Errorf("restore: %d steps never became ready (a dependency cycle)", sc.left)
	}
	return sc.postErr, nil
}

// next takes the best ready step that conflicts with no running one; it waits while
// there is none, and returns nil when nothing is left or the run failed.
func (sc *scheduler) next() *step {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for {
		if sc.err != nil || sc.left == 0 {
			return nil
		}
		best := -1
		for i, s := range sc.ready {
			if best >= 0 && !(s.rank < sc.ready[best].rank || s.rank == sc.ready[best].rank && s.size > sc.ready[best].size) {
				continue
			}
			ok := true
			for _, r := range sc.running {
				if s.conflicts(r) {
					ok = false
					break
				}
			}
			if ok {
				best = i
			}
		}
		if best >= 0 {
			s := sc.ready[best]
			sc.ready = append(sc.ready[:best], sc.ready[best+1:]...)
			sc.running = append(sc.running, s)
			return s
		}
		if len(sc.running) == 0 && len(sc.ready) == 0 {
			return nil // waiting steps whose dependencies never end: runSteps reports it
		}
		sc.wake.Wait()
	}
}

func (sc *scheduler) worker(ctx context.Context, cancel context.CancelFunc) {
	var conns [flavours]*pgx.Conn
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	for {
		s := sc.next()
		if s == nil {
			sc.wake.Broadcast()
			return
		}
		var added []*step
		var err error
		t0 := time.Now()
		sc.mu.Lock()
		skip := s.post && sc.postErr != nil
		sc.mu.Unlock()
		if !skip {
			sc.debug("restore step start", s, "at", t0.Sub(sc.clock.start).Seconds())
			if conns[s.flavour] == nil {
				conns[s.flavour], err = sc.open[s.flavour](ctx)
			}
			if err == nil {
				added, err = s.run(ctx, conns[s.flavour])
			}
			// A step that does not fail may still lose its session (an invariant's check
			// records its error instead of returning it): the next step opens a new one.
			if conns[s.flavour] != nil && conns[s.flavour].PgConn().IsClosed() {
				conns[s.flavour] = nil
			}
		}
		took := time.Since(t0)
		if !skip {
			args := []any{"seconds", took.Seconds(), "at", time.Since(sc.clock.start).Seconds()}
			if err != nil {
				args = append(args, "err", err)
			}
			sc.debug("restore step done", s, args...)
		}
		sc.finish(s, added, err, took, cancel)
	}
}

// debug logs a step's start or end: the timeline of a restore at debug level.
func (sc *scheduler) debug(msg string, s *step, args ...any) {
	if sc.log == nil {
		return
	}
	sc.log.Debug(msg, append([]any{"what", s.what, "phase", s.phase}, args...)...)
}

// finish records s's end, releases the steps after it and adds the steps it created.
func (sc *scheduler) finish(s *step, added []*step, err error, took time.Duration, cancel context.CancelFunc) {
	sc.mu.Lock()
	defer sc.wake.Broadcast()
	defer sc.mu.Unlock()
	for i, r := range sc.running {
		if r == s {
			sc.running = append(sc.running[:i], sc.running[i+1:]...)
			break
		}
	}
	sc.clock.busy[s.phase] += took
	sc.clock.end[s.phase] = max(sc.clock.end[s.phase], time.Since(sc.clock.start))
	switch {
	case err != nil && s.post:
		if sc.postErr == nil {
			sc.postErr = err
		}
	case err != nil:
		if sc.err == nil || errors.Is(sc.err, context.Canceled) {
			sc.err = err
		}
		cancel()
		return
	}
	sc.left--
	sc.left += len(added)
	for _, a := range added {
		if a.waits == 0 {
			sc.ready = append(sc.ready, a)
		}
	}
	for _, t := range s.then {
		if t.waits--; t.waits == 0 {
			sc.ready = append(sc.ready, t)
		}
	}
}

// phases adds the clock to the report: for each phase the seconds from the start of the
// data step until its last step ended, and under "<phase> busy" the session-seconds
// its steps took (phases overlap: a table's indexes build while others load).
func (c *phaseClock) phases(into map[string]float64) {
	names := make([]string, 0, len(c.end))
	for n := range c.end {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		into[n] = c.end[n].Seconds()
		into[n+" busy"] = c.busy[n].Seconds()
	}
}
