package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// heartbeat pings a healthchecks.io-style monitor: <url>/start when a job starts, <url>
// when it succeeds, <url>/fail (the error text as the POST body) when it fails, so that
// a job that fails, or never runs, is noticed. The URL is a secret (its path identifies
// the check and lets anyone ping it): logs show only scheme and host. A ping that fails
// is logged and never fails the job. A nil *heartbeat does nothing.
type heartbeat struct {
	base    *url.URL
	timeout time.Duration
	client  *http.Client
	log     *slog.Logger
	// retryWait is the pause between attempts (tests shorten it).
	retryWait time.Duration
}

// maxPingBody is the most of a body sent (healthchecks.io keeps 100 kB; the error text
// that matters is short).
const maxPingBody = 10_000

// newHeartbeat returns nil when raw is empty. raw was validated by Config.Validate.
func newHeartbeat(raw string, timeout time.Duration, log *slog.Logger) *heartbeat {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		log.Warn("heartbeat URL unparsable; no pings will be sent")
		return nil
	}
	return &heartbeat{base: u, timeout: timeout, client: &http.Client{}, log: log, retryWait: time.Second}
}

func (h *heartbeat) Start(ctx context.Context)                { h.ping(ctx, "start", "/start", "") }
func (h *heartbeat) Success(ctx context.Context, body string) { h.ping(ctx, "success", "", body) }
func (h *heartbeat) Fail(ctx context.Context, body string)    { h.ping(ctx, "fail", "/fail", body) }

// endpoint names the monitor in logs without its secret path.
func (h *heartbeat) endpoint() string { return h.base.Scheme + "://" + h.base.Host + "/…" }

// ping POSTs body to the base URL with suffix appended to its path. Up to three
// attempts, each bounded by the timeout, on network errors and 5xx answers. It runs
// even when ctx is cancelled (an interrupted job must still report its failure).
func (h *heartbeat) ping(ctx context.Context, kind, suffix, body string) {
	if h == nil {
		return
	}
	u := *h.base
	u.Path = strings.TrimSuffix(u.Path, "/") + suffix
	u.RawPath = ""
	if len(body) > maxPingBody {
		body = body[:maxPingBody]
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var retry bool
		retry, err = h.once(ctx, u.String(), body)
		if err == nil {
			h.log.Debug("heartbeat sent", "ping", kind, "endpoint", h.endpoint())
			return
		}
		if !retry || attempt == 3 {
			break
		}
		time.Sleep(h.retryWait)
	}
	h.log.Warn("heartbeat ping failed (the job itself is not affected)", "ping", kind, "endpoint", h.endpoint(), "err", err)
}

// once sends one ping; the error never contains the URL.
func (h *heartbeat) once(ctx context.Context, target, body string) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return false, errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "linkbackup/"+toolVersion())
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error repeats the URL, which is secret
		}
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp.StatusCode >= 500, fmt.Errorf("HTTP %s", resp.Status)
	}
	return false, nil
}
