// Package web serves what the weekly email's links point at: the one-click
// unsubscribe of RFC 8058 and a page for people, with the server hygiene every
// linkbackup HTTP endpoint shares (server.go). It knows no database: the command
// passes the statement that turns the weekly backup off.
package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/mailer"
)

// Unsubscriber handles GET and POST of the unsubscribe URL (mail.unsubscribe_url):
//   - POST with the body List-Unsubscribe=One-Click (RFC 8058: what mail clients send,
//     and what the page's button sends) verifies the token and calls Off; idempotent;
//     200 and a confirmation page;
//   - GET verifies the token and shows a page with a button that POSTs; it never
//     changes anything, so link scanners and previews unsubscribe no one;
//   - a bad, forged or expired token, or a POST without the one-click body: 400, the
//     same page whatever was wrong.
type Unsubscriber struct {
	Keys mailer.Unsubscribe
	// Off turns the member's weekly backup off (mail.unsubscribe_sql).
	Off func(ctx context.Context, memberID int64) error
	// Product names the service on the pages. Default "LinkaGoGo".
	Product string
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
	Log *slog.Logger

	path, param string // where the token is: the query parameter, or the path when param is ""
}

// NewUnsubscriber returns the handler for u.Keys.URL's path (Path).
func NewUnsubscriber(u Unsubscriber) (*Unsubscriber, error) {
	p, err := url.Parse(strings.ReplaceAll(u.Keys.URL, "{token}", "TOKEN"))
	if err != nil {
		return nil, fmt.Errorf("web: unsubscribe url: %w", err)
	}
	for k, vs := range p.Query() {
		if len(vs) == 1 && vs[0] == "TOKEN" {
			u.param = k
		}
	}
	u.path = p.Path
	if u.param == "" {
		if !strings.HasSuffix(p.Path, "/TOKEN") {
			return nil, fmt.Errorf("web: unsubscribe url %q: want {token} as a query value or the last path segment", u.Keys.URL)
		}
		u.path = strings.TrimSuffix(p.Path, "TOKEN")
	}
	if u.Product == "" {
		u.Product = "LinkaGoGo"
	}
	if u.Now == nil {
		u.Now = time.Now
	}
	if u.Log == nil {
		u.Log = slog.New(slog.DiscardHandler)
	}
	if u.Off == nil {
		return nil, errors.New("web: unsubscriber without Off")
	}
	return &u, nil
}

// Pattern is the ServeMux pattern of the unsubscribe URL.
func (u *Unsubscriber) Pattern() string {
	if u.param == "" {
		return u.path + "{token}"
	}
	return u.path
}

func (u *Unsubscriber) token(r *http.Request) string {
	if u.param == "" {
		return r.PathValue("token")
	}
	return r.URL.Query().Get(u.param)
}

func (u *Unsubscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL holds the token
	id, err := u.Keys.Verify(u.token(r), u.Now())
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case err != nil:
		u.page(w, http.StatusBadRequest, pageBad, "")
	case r.Method == http.MethodGet:
		u.page(w, http.StatusOK, pageAsk, r.URL.RequestURI())
	case !oneClick(r):
		u.page(w, http.StatusBadRequest, pageBad, "")
	default:
		if err := u.Off(r.Context(), id); err != nil {
			u.Log.Error("unsubscribe failed", "member", id, "err", err)
			u.page(w, http.StatusInternalServerError, pageFailed, "")
			return
		}
		u.Log.Info("unsubscribed from the weekly backup", "member", id)
		u.page(w, http.StatusOK, pageDone, "")
	}
}

// oneClick reports whether the POST body is RFC 8058's List-Unsubscribe=One-Click
// (form-urlencoded or multipart, as the RFC allows).
func oneClick(r *http.Request) bool {
	if err := r.ParseMultipartForm(1 << 12); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return false
	}
	return r.PostForm.Get("List-Unsubscribe") == "One-Click"
}

type pageKind int

const (
	pageAsk pageKind = iota
	pageDone
	pageBad
	pageFailed
)

var pages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{{.Product}} weekly backup</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
{{if eq .Kind 0}}<h1>Stop the weekly backup email?</h1>
<p>You get your {{.Product}} links by email once a week. Press the button to stop these emails.</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Stop these emails</button></form>
{{else if eq .Kind 1}}<h1>Done</h1><p>You will get no more weekly backup emails. You can turn them on again in your {{.Product}} settings.</p>
{{else if eq .Kind 2}}<h1>This link does not work</h1><p>It may be incomplete or too old. Use the link in your latest weekly backup email, or turn the email off in your {{.Product}} settings.</p>
{{else}}<h1>Something went wrong</h1><p>Please try again in a few minutes.</p>{{end}}
</body></html>
`))

func (u *Unsubscriber) page(w http.ResponseWriter, code int, k pageKind, action string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(code)
	pages.Execute(w, struct {
		Kind    pageKind
		Product string
		Action  string
	}{k, u.Product, action})
}
