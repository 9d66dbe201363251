package weekly

import "sync"

// batcher coalesces the same small statement from concurrent jobs into one: a job
// that finds no flush running runs flush for every request queued at that moment
// (at most max, its own first); jobs that arrive meanwhile wait, and when the flush
// is done the first of them runs the next one. Nobody waits for more than the flush
// in progress plus its own, no request is left behind (the queue is empty whenever
// no flush runs), and there is no timer: one job alone flushes at once, alone.
//
// Requests with the same key are never in one flush (an INSERT ... ON CONFLICT DO
// UPDATE cannot touch one row twice); a duplicate waits for a later flush.
type batcher[K comparable, Req, Res any] struct {
	max   int
	key   func(Req) K
	flush func(reqs []Req) ([]Res, error) // one result per request, in order

	mu      sync.Mutex
	queue   []*batchCall[Req, Res]
	running bool
}

type batchCall[Req, Res any] struct {
	req  Req
	res  Res
	err  error
	lead bool // woken to run the next flush, not with a result
	done chan struct{}
}

// do runs req in a flush and returns its result.
func (b *batcher[K, Req, Res]) do(req Req) (Res, error) {
	c := &batchCall[Req, Res]{req: req, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if !lead {
		<-c.done
		if !c.lead {
			return c.res, c.err
		}
	}
	// c is at the head of the queue: take it and whatever follows, keys distinct.
	b.mu.Lock()
	batch := make([]*batchCall[Req, Res], 0, min(len(b.queue), b.max))
	seen := make(map[K]bool, cap(batch))
	rest := b.queue[:0]
	for _, q := range b.queue {
		k := b.key(q.req)
		if len(batch) < b.max && !seen[k] {
			seen[k] = true
			batch = append(batch, q)
		} else {
			rest = append(rest, q)
		}
	}
	clear(b.queue[len(rest):])
	b.queue = rest
	b.mu.Unlock()

	reqs := make([]Req, len(batch))
	for i, q := range batch {
		reqs[i] = q.req
	}
	res, err := b.flush(reqs)
	for i, q := range batch {
		if err != nil {
			q.err = err
		} else {
			q.res = res[i]
		}
		if q != c {
			close(q.done)
		}
	}

	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		next.lead = true
		close(next.done)
	} else {
		b.running = false
	}
	b.mu.Unlock()
	return c.res, c.err
}

// flusher is a batcher for writes nobody waits on: add queues a request and returns
// at once when a flush is running; otherwise the caller flushes, again and again until
// the queue is empty. So every request is written by a caller that is still running
// (a River job the client waits for on Stop), and the others do not wait.
type flusher[Req any] struct {
	max   int
	flush func(reqs []Req) error

	mu      sync.Mutex
	queue   []Req
	running bool
}

// add queues req; it returns the first error of the flushes it ran itself.
func (f *flusher[Req]) add(req Req) error {
	f.mu.Lock()
	f.queue = append(f.queue, req)
	if f.running {
		f.mu.Unlock()
		return nil
	}
	f.running = true
	var first error
	for len(f.queue) > 0 {
		n := min(len(f.queue), f.max)
		batch := append([]Req(nil), f.queue[:n]...)
		f.queue = append(f.queue[:0], f.queue[n:]...)
		f.mu.Unlock()
		if err := f.flush(batch); err != nil && first == nil {
			first = err
		}
		f.mu.Lock()
	}
	f.running = false
	f.mu.Unlock()
	return first
}
