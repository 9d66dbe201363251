package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/mailer"
)

// TestHygiene: a body over MaxBody is refused (400, nothing done), a panic is a 500,
// and every request is one JSON log line naming the route, never the URL.
func TestHygiene(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	keys := mailer.Unsubscribe{URL: "https://x.example/u/{token}", Secret: []byte("web-test-secret-0123456789")}
	called := 0
	u, err := NewUnsubscriber(Unsubscriber{Keys: keys, Log: log, Off: func(context.Context, int64) error { called++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if u.Pattern() != "/u/{token}" {
		t.Fatalf("pattern %q", u.Pattern())
	}
	srv := httptest.NewServer(Handler(log,
		Route{Name: "unsubscribe", Pattern: "POST " + u.Pattern(), Handler: u},
		Route{Name: "boom", Pattern: "GET /boom", Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })}))
	defer srv.Close()
	tok := keys.Token(7)
	big := "List-Unsubscribe=One-Click&pad=" + strings.Repeat("x", MaxBody)
	resp, err := http.Post(srv.URL+"/u/"+tok, "application/x-www-form-urlencoded", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || called != 0 {
		t.Fatalf("oversized body: %d, Off called %d times", resp.StatusCode, called)
	}
	resp, err = http.Post(srv.URL+"/u/"+tok, "application/x-www-form-urlencoded", strings.NewReader(url.Values{"List-Unsubscribe": {"One-Click"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || called != 1 {
		t.Fatalf("one-click: %d, Off called %d times", resp.StatusCode, called)
	}
	resp, err = http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("panic: %d", resp.StatusCode)
	}
	time.Sleep(10 * time.Millisecond)
	if strings.Contains(logs.String(), tok) {
		t.Fatalf("logs hold the token:\n%s", logs.String())
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "request" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d request lines, want 3:\n%s", n, logs.String())
	}
}
