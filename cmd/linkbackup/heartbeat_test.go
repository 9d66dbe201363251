package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hbPing is one request a heartbeat server received.
type hbPing struct{ Method, Path, Query, Body string }

// hbServer is a healthchecks.io stand-in that records pings and answers with status(n)
// for the n-th request (default 200).
type hbServer struct {
	*httptest.Server
	mu     sync.Mutex
	pings  []hbPing
	status func(n int) int
	delay  time.Duration
}

func newHBServer(t *testing.T) *hbServer {
	h := &hbServer{status: func(int) int { return 200 }}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.pings = append(h.pings, hbPing{r.Method, r.URL.Path, r.URL.RawQuery, string(b)})
		code, delay := h.status(len(h.pings)), h.delay
		h.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

// set changes the answers (and forgets the pings so far).
func (h *hbServer) set(status func(n int) int, delay time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status, h.delay, h.pings = status, delay, nil
}

func (h *hbServer) got() []hbPing {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hbPing(nil), h.pings...)
}

func (h *hbServer) paths() []string {
	var out []string
	for _, p := range h.got() {
		out = append(out, p.Path)
	}
	return out
}

func bufLogger() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

func TestHeartbeatPathsAndBodies(t *testing.T) {
	srv := newHBServer(t)
	log, _ := bufLogger()
	hb := newHeartbeat(srv.URL+"/ping/0f1e2d3c/?create=1", time.Second, log)
	ctx := context.Background()
	hb.Start(ctx)
	hb.Success(ctx, "all good")
	hb.Fail(ctx, strings.Repeat("x", maxPingBody+500))
	got := srv.got()
	want := []hbPing{
		{"POST", "/ping/0f1e2d3c/start", "create=1", ""},
		{"POST", "/ping/0f1e2d3c", "create=1", "all good"},
		{"POST", "/ping/0f1e2d3c/fail", "create=1", strings.Repeat("x", maxPingBody)},
	}
	if len(got) != len(want) {
		t.Fatalf("pings %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ping %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	var none *heartbeat // no URL configured: every ping is a no-op
	none.Start(ctx)
	if newHeartbeat("", time.Second, log) != nil {
		t.Fatal("empty URL must give no heartbeat")
	}
}

func TestHeartbeatRetriesAndKeepsTheURLSecret(t *testing.T) {
	const secret = "9b2c1f4e-secret-check-uuid"
	ctx := context.Background()

	// 503 then 200: retried once.
	srv := newHBServer(t)
	srv.set(func(n int) int {
		if n == 1 {
			return 503
		}
		return 200
	}, 0)
	log, logs := bufLogger()
	hb := newHeartbeat(srv.URL+"/"+secret, time.Second, log)
	hb.retryWait = 10 * time.Millisecond
	hb.Start(ctx)
	if p := srv.paths(); len(p) != 2 || strings.Contains(logs.String(), "failed") {
		t.Fatalf("503 then 200: pings %v, logs %s", p, logs)
	}

	// 404: permanent, not retried, logged without the URL.
	srv.set(func(int) int { return 404 }, 0)
	hb.Success(ctx, "x")
	if p := srv.paths(); len(p) != 1 || !strings.Contains(logs.String(), "HTTP 404") {
		t.Fatalf("404: pings %v, logs %s", p, logs)
	}

	// A server that hangs: each attempt ends at the timeout.
	srv.set(func(int) int { return 200 }, 500*time.Millisecond)
	hb.timeout = 50 * time.Millisecond
	start := time.Now()
	hb.Fail(ctx, "boom")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a hanging monitor held the job %v", d)
	}
	// Nobody listening.
	dead := newHeartbeat("http://127.0.0.1:1/"+secret, 100*time.Millisecond, log)
	dead.retryWait = time.Millisecond
	dead.Fail(ctx, "boom")
	if !strings.Contains(logs.String(), "heartbeat ping failed") || !strings.Contains(logs.String(), "http://127.0.0.1:1/…") {
		t.Fatalf("logs: %s", logs)
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("the heartbeat URL's secret path appears in the logs:\n%s", logs)
	}
	// A cancelled job still reports its failure.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	srv.set(func(int) int { return 200 }, 0)
	before := len(srv.got())
	hb.timeout = time.Second
	hb.Fail(cctx, "interrupted")
	if len(srv.got()) != before+1 {
		t.Fatal("no /fail ping after the context was cancelled")
	}
}
