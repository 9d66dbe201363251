package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/statusview"
	"github.com/linkagogo/linkbackup/mailer/web"
)

// chartNights is how many nights the status page draws.
const chartNights = 60

// operatorRoutes returns the status page (/) and /metrics, behind the bearer token (or
// loopback only without one); none without a store.
func operatorRoutes(a *app) ([]web.Route, error) {
	c := a.cfg
	if c.Store == "" {
		a.log.Warn("no store: not serving the status page and /metrics")
		return nil, nil
	}
	token, err := readSecretFile(c.Serve.TokenFile, "serve.token_file")
	if err != nil {
		return nil, usageError(err)
	}
	if c.Serve.TokenFile != "" && len(token) < 16 {
		return nil, usageError(errors.New("serve.token_file: want a token of at least 16 characters"))
	}
	report := func(ctx context.Context) (*backup.StatusReport, *statusview.Mail, error) {
		ctx, cancel := context.WithTimeout(ctx, c.Status.Timeout)
		defer cancel()
		now := time.Now()
		rep, err := checkStatus(ctx, a, now)
		if err != nil {
			return nil, nil, err
		}
		return rep, checkMailStatus(ctx, a, now, rep), nil
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, mail, err := report(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		promhttp.HandlerFor(statusview.Registry(rep, mail), promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, mail, err := report(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		nights, err := readNights(r.Context(), a, chartNights)
		if err != nil {
			a.log.Warn("status page: reading the store's records", "err", err)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		statusview.WriteHTML(w, rep, mail, nights)
	})
	return []web.Route{
		{Name: "status", Pattern: "GET /{$}", Handler: bearer(token, page)},
		{Name: "metrics", Pattern: "GET /metrics", Handler: bearer(token, metrics)},
	}, nil
}

// readNights reads the last n snapshots of the store (oldest first) with their drill
// results: proven (a drill record or successful attempt names it), failed (the last
// attempt, of it, failed), none; the data age where a drill record keeps it.
func readNights(ctx context.Context, a *app, n int) ([]statusview.Night, error) {
	st, err := openStore(ctx, a.cfg.Store, a.log)
	if err != nil {
		return nil, err
	}
	ms, err := backup.ListSnapshots(ctx, st)
	if err != nil {
		return nil, err
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Started.Before(ms[j].Started) })
	ms = ms[max(0, len(ms)-n):]
	facts, err := backup.ReadDrillFacts(ctx, st)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ages, failed := drillAges(ctx, st)
	out := make([]statusview.Night, len(ms))
	for i, m := range ms {
		nt := statusview.Night{Snapshot: m.ID, Started: m.Started, Duration: m.Finished.Sub(m.Started), Stored: m.Totals.StoredBytes, Drill: "none"}
		switch {
		case facts != nil && facts.Proven[m.ID]:
			nt.Drill = "proven"
		case failed[m.ID]:
			nt.Drill = "failed"
		}
		if d, ok := ages[m.ID]; ok {
			nt.DataAge = &d
		}
		out[i] = nt
	}
	return out, nil
}

// drillAges reads the drill and attempt records: the standby data age at each proof
// they keep (verified - source time), and the snapshots whose last attempt failed.
func drillAges(ctx context.Context, st backup.Store) (map[string]time.Duration, map[string]bool) {
	ages, failed := map[string]time.Duration{}, map[string]bool{}
	keep := func(r *backup.StandbyRecord) {
		if r != nil && r.Snapshot != "" {
			ages[r.Snapshot] = r.Verified.Sub(r.SourceTime)
		}
	}
	each := func(prefix string, fn func(key string)) {
		objs, err := st.List(ctx, prefix)
		if err != nil {
			return
		}
		for _, o := range objs {
			fn(o.Key)
		}
	}
	each(backup.DrillsPrefix, func(key string) {
		var d backup.DrillRecord
		if readJSON(ctx, st, key, &d) == nil {
			keep(d.Serving)
			keep(d.Previous)
		}
	})
	each("standby/", func(key string) {
		var at backup.StandbyAttempt
		if readJSON(ctx, st, key, &at) == nil {
			keep(at.Serving)
			if at.Snapshot != "" && !at.OK {
				failed[at.Snapshot] = true
			}
		}
	})
	return ages, failed
}

// readJSON decodes the store object key (at most 1 MiB) into v.
func readJSON(ctx context.Context, st backup.Store, key string, v any) error {
	rc, err := st.Open(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	return json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(v)
}
