package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/mailer"
	"github.com/linkagogo/linkbackup/mailer/web"
)

const serveHelp = `Serve what the weekly email's links and the operators need, over HTTP (put a TLS
reverse proxy in front for the public parts):

  <unsubscribe path>  mail.unsubscribe_url's path. POST with the body
                      List-Unsubscribe=One-Click (RFC 8058 one-click, what Gmail and
                      Yahoo send) verifies the token and runs mail.unsubscribe_sql on the
                      source: 200, idempotent. GET shows a page with a button that POSTs
                      and changes nothing (link scanners and previews unsubscribe no
                      one). A bad, forged or rotated-out token: 400, same page.
  /                   the operator status page: what 'linkbackup status' says (the
                      weekly email included), and an inline SVG chart of the last 60
                      nights from the store's records (backup duration, stored bytes,
                      drill result, the standby's data age when proven). Refreshes
                      every 5 minutes.
  /metrics            Prometheus exposition of what 'status --prometheus' writes.
  /download/...       with mail.store: the signed, expiring links of zips too large to
                      attach (messages carry them when mail.link_base_url is serve's
                      public URL) stream the zip from mail.store; expired, forged or
                      unknown: 404; no listing. mail.store must not be the snapshot store.
  /healthz            200 "ok" while serving.

The status page and /metrics need --store; they answer loopback clients only, or, with
serve.token_file (--token-file), any client sending "Authorization: Bearer <token>".

Logs are one JSON line per request (route, method, status, bytes, time; never the URL,
which holds tokens). Request bodies are limited to 16 KiB; headers must arrive within
5 s. On SIGTERM or SIGINT the server stops taking connections and lets requests in
flight finish for 10 s. Exit codes: 0 stopped by a signal; 1 error; 2 usage.`

func newServeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR]",
		Short: "HTTP: one-click unsubscribe (RFC 8058), operator status page, /metrics, /healthz",
		Long:  serveHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), a)
		},
	}
	f := cmd.Flags()
	f.String("listen", "", "address to serve, host:port (default 127.0.0.1:8080) ($LINKBACKUP_SERVE_LISTEN)")
	f.String("token-file", "", "file holding the bearer token of the operator pages ($LINKBACKUP_SERVE_TOKEN_FILE)")
	f.String("source", "", "DSN of the bookmark database, for mail.unsubscribe_sql ($LINKBACKUP_SOURCE)")
	f.String("store", "", "snapshot store URL, for the status page and /metrics ($LINKBACKUP_STORE)")
	f.String("standby", "", "DSN of the standby server, for the status page ($LINKBACKUP_STANDBY_SERVER)")
	a.bind(cmd, "listen", "serve.listen")
	a.bind(cmd, "token-file", "serve.token_file")
	a.bind(cmd, "source", "source")
	a.bind(cmd, "store", "store")
	a.bind(cmd, "standby", "standby.server")
	return cmd
}

// runServe serves until ctx is cancelled.
func runServe(ctx context.Context, a *app) error {
	c := a.cfg
	if err := c.Mail.Validate(); err != nil {
		return usageError(err)
	}
	e := &mailEnv{mc: c.Mail}
	defer e.close()
	routes := []web.Route{{Name: "healthz", Pattern: "GET /healthz", Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})}}
	unsub, err := unsubscribeRoutes(ctx, a, e)
	if err != nil {
		return err
	}
	routes = append(routes, unsub...)
	dl, err := downloadRoutes(ctx, a)
	if err != nil {
		return err
	}
	routes = append(routes, dl...)
	ops, err := operatorRoutes(a)
	if err != nil {
		return err
	}
	routes = append(routes, ops...)
	ln, err := net.Listen("tcp", c.Serve.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(a.stdout, "linkbackup serve: listening on http://%s\n", ln.Addr())
	a.log.Info("serving", "addr", ln.Addr().String(), "routes", len(routes))
	return web.Serve(ctx, ln, web.Handler(a.log, routes...), a.log)
}

// unsubscribeRoutes returns the unsubscribe URL's GET and POST routes, or none (with
// a warning) when mail.unsubscribe_url is not set.
func unsubscribeRoutes(ctx context.Context, a *app, e *mailEnv) ([]web.Route, error) {
	c, mc := a.cfg, a.cfg.Mail
	if mc.UnsubscribeURL == "" {
		a.log.Warn("no mail.unsubscribe_url: not serving unsubscribe")
		return nil, nil
	}
	secret, err := mc.unsubscribeSecret()
	if err != nil {
		return nil, usageError(err)
	}
	keys, err := mc.unsubscribeKeys(secret)
	if err != nil {
		return nil, usageError(err)
	}
	if err := keys.Validate(); err != nil {
		return nil, usageError(err)
	}
	if c.Source == "" {
		return nil, errNoSource
	}
	if strings.TrimSpace(mc.UnsubscribeSQL) == "" {
		return nil, usageError(errors.New("mail.unsubscribe_sql is empty"))
	}
	source, err := e.openPool(ctx, string(c.Source), 4)
	if err != nil {
		return nil, err
	}
	u, err := web.NewUnsubscriber(web.Unsubscriber{Keys: keys, Product: mc.Product, Log: a.log,
		Off: func(ctx context.Context, id int64) error {
			_, err := source.Exec(ctx, mc.UnsubscribeSQL, id)
			return err
		}})
	if err != nil {
		return nil, usageError(err)
	}
	return []web.Route{
		{Name: "unsubscribe", Pattern: "GET " + u.Pattern(), Handler: u},
		{Name: "unsubscribe", Pattern: "POST " + u.Pattern(), Handler: u},
	}, nil
}

// bearer allows a request that carries the token, or, without a token, one from a
// loopback address.
func bearer(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				http.Error(w, "forbidden: operator pages answer loopback clients only (or set serve.token_file)", http.StatusForbidden)
				return
			}
		} else {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="linkbackup"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// downloadRoutes serves the signed download links of large zips from mail.store (none
// without one). The key is derived from the unsubscribe secret for downloads only.
func downloadRoutes(ctx context.Context, a *app) ([]web.Route, error) {
	mc := a.cfg.Mail
	if mc.Store == "" {
		return nil, nil
	}
	if err := checkMailStore(mc.Store, a.cfg.Store); err != nil {
		return nil, err
	}
	secret, err := mc.unsubscribeSecret()
	if err != nil {
		return nil, usageError(err)
	}
	if len(secret) < 16 {
		return nil, usageError(errors.New("downloads need mail.unsubscribe_secret (the download key is derived from it)"))
	}
	st, err := openStore(ctx, mc.Store, a.log)
	if err != nil {
		return nil, err
	}
	d := &web.Downloads{Key: mailer.DeriveKey([]byte(secret), "download"), Open: st.Open, Log: a.log}
	return []web.Route{{Name: "download", Pattern: "GET " + web.DownloadPath + "{rel...}", Handler: d}}, nil
}
