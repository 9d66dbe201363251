package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// chromiumPath is Debian's chromium (scripts/teststack.sh installs it when missing).
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium for the test; a missing Chromium fails under make
// test (LINKBACKUP_TEST_REQUIRE=1) and skips otherwise.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if testenv.Required() {
			t.Fatalf("chromium: %v (scripts/teststack.sh deps installs Debian's chromium)", err)
		}
		t.Skipf("chromium: %v", err)
	}
	// Not t.TempDir: Chromium's helper processes can still write into their profile for
	// a moment after the browser exits, and TempDir's cleanup fails the test on that.
	profile, err := os.MkdirTemp("", "linkbackup-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs after the allocator's cancel below has stopped Chromium
		for i := 0; ; i++ {
			if err := os.RemoveAll(profile); err == nil || i == 50 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// TestServeStatusPageInChromium: three nights in a file store; the status page loads
// in a real headless Chromium without console errors, its SVG chart has one mark per
// recorded night, and a screenshot is kept (.test-artifacts/status-page.png); /metrics
// parses with the Prometheus text parser and counts the same snapshots; a remote
// client without the bearer token is refused.
func TestServeStatusPageInChromium(t *testing.T) {
	src := genDB(t, 20, 5)
	store := "file://" + t.TempDir()
	for i := 0; i < 3; i++ {
		if out, errs, code := run(t, "backup", "--source", src, "--store", store); code != 0 {
			t.Fatalf("backup %d: exit %d %s %s", i, code, out, errs)
		}
	}
	config := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, config, "source: "+src+"\nstore: "+store+"\n")
	p := startServe(t, config)
	ctx := browser(t)

	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeWarning {
				problems = append(problems, "console "+string(ev.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		}
	})
	var marks int
	var state, report string
	var png []byte
	if err := chromedp.Run(ctx,
		chromedp.Navigate(p.base+"/"),
		chromedp.WaitVisible("#nights", chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll('#nights rect.night').length`, &marks),
		chromedp.Text("#state", &state, chromedp.ByID),
		chromedp.Text("#report", &report, chromedp.ByID),
		chromedp.FullScreenshot(&png, 100), // 100: PNG
	); err != nil {
		t.Fatal(err)
	}
	if marks != 3 {
		t.Fatalf("the chart has %d night marks, want 3", marks)
	}
	if state == "" || !strings.Contains(report, "database") {
		t.Fatalf("state %q, report:\n%s", state, report)
	}
	time.Sleep(200 * time.Millisecond) // late console messages
	mu.Lock()
	if len(problems) > 0 {
		t.Fatalf("console: %v", problems)
	}
	mu.Unlock()
	art := filepath.Join("..", "..", ".test-artifacts")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(art, "status-page.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", filepath.Join(art, "status-page.png"), len(png))

	code, metrics := fetch(t, "GET", p.base+"/metrics", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, metrics)
	}
	cfg, _ := pgx.ParseConfig(src)
	if n, ok := promGauge(t, metrics, "linkbackup_snapshots", map[string]string{"database": cfg.Database}); !ok || n != 3 {
		t.Fatalf("/metrics: linkbackup_snapshots = %v (%v), want 3\n%s", n, ok, metrics)
	}
	if _, ok := promGauge(t, metrics, "linkbackup_status_code", nil); !ok {
		t.Fatalf("/metrics lacks linkbackup_status_code:\n%s", metrics)
	}
	p.stop(t)

	// With serve.token_file, the operator pages want the bearer token.
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "operator-token-0123456789\n")
	p = startServe(t, config, "--token-file", tokenFile)
	if code, _ := fetch(t, "GET", p.base+"/metrics", nil); code != 401 {
		t.Fatalf("/metrics without the token: %d, want 401", code)
	}
	req, _ := http.NewRequest("GET", p.base+"/", nil)
	req.Header.Set("Authorization", "Bearer operator-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/ with the token: %d", resp.StatusCode)
	}
	p.stop(t)
}

// TestBearer: without a token the operator pages answer loopback clients only; with
// one, only requests carrying it.
func TestBearer(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	for _, c := range []struct {
		token, remote, auth string
		want                int
	}{
		{"", "127.0.0.1:5000", "", 200},
		{"", "[::1]:5000", "", 200},
		{"", "192.0.2.7:5000", "", 403},
		{"secret-token-0123456789", "192.0.2.7:5000", "Bearer secret-token-0123456789", 200},
		{"secret-token-0123456789", "127.0.0.1:5000", "", 401},
		{"secret-token-0123456789", "192.0.2.7:5000", "Bearer wrong", 401},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		bearer(c.token, ok).ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("token %q from %s with %q: %d, want %d", c.token, c.remote, c.auth, w.Code, c.want)
		}
	}
}
