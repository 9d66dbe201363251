package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/mailer"
)

// serveProc is a running `linkbackup serve`.
type serveProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	log  string // its stderr (JSON logs)
}

// startServe runs `linkbackup serve` on a free port with config.
func startServe(t *testing.T, config string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{log: filepath.Join(t.TempDir(), "serve.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binary(t), append([]string{"serve", "--config", config, "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	p.cmd.Stderr = logf
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("serve log:\n%s", b)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b, _ := os.ReadFile(p.log)
		t.Fatalf("serve did not start: %v\n%s", err, b)
	}
	m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve printed %q", line)
	}
	p.base = m[1]
	return p
}

// stop sends SIGTERM and wants exit 0.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v (want exit 0)", err)
	}
}

func fetch(t *testing.T, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// weeklyBackup reads a member's weekly_backup flag from the bookmark database.
func (m *mailTest) weeklyBackup(t *testing.T, id int64) bool {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, m.source)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var on bool
	if err := c.QueryRow(ctx, `SELECT weekly_backup FROM members WHERE id = $1`, id).Scan(&on); err != nil {
		t.Fatal(err)
	}
	return on
}

var oneClickBody = url.Values{"List-Unsubscribe": {"One-Click"}}

// TestServeUnsubscribeRFC8058: on the real bookmark schema, a link scanner's GET
// changes nothing; the RFC 8058 POST turns weekly_backup off (and again: idempotent);
// the page's button does the same; forged, rotated-out and body-less requests get 400
// with one body; the request logs hold no token; SIGTERM stops it with exit 0.
func TestServeUnsubscribeRFC8058(t *testing.T) {
	m := newMailTest(t, 6, 2, "file://"+t.TempDir())
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	writeFile(t, v1, "the-first-secret-0123456789\n")
	writeFile(t, v2, "cli-test-secret-0123456789abcdef\n") // the config's secret before the rotation
	cfg := strings.Replace(readFile(t, m.config), "  rate: 0\n", `  rate: 0
  unsubscribe_key_version: 3
  unsubscribe_old_keys:
    - {version: 2, secret_file: "`+v2+`", until: "2999-01-01"}
    - {version: 1, secret_file: "`+v1+`", until: "2020-01-01"}
`, 1)
	cfg = strings.Replace(cfg, `unsubscribe_secret: "cli-test-secret-0123456789abcdef"`, `unsubscribe_secret: "the-third-secret-0123456789"`, 1)
	writeFile(t, m.config, cfg)
	var ids []int64
	for id := range m.selected {
		ids = append(ids, id)
	}
	const tmpl = "https://linkagogo.test/unsubscribe?t={token}"
	v3keys := mailer.Unsubscribe{URL: tmpl, Secret: []byte("the-third-secret-0123456789"), Version: 3}
	v2keys := mailer.Unsubscribe{URL: tmpl, Secret: []byte("cli-test-secret-0123456789abcdef"), Version: 2}
	v1keys := mailer.Unsubscribe{URL: tmpl, Secret: []byte("the-first-secret-0123456789"), Version: 1}
	p := startServe(t, m.config)
	local := func(u mailer.Unsubscribe, id int64) string {
		return p.base + strings.TrimPrefix(u.URLFor(id), "https://linkagogo.test")
	}

	if code, body := fetch(t, "GET", p.base+"/healthz", nil); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	// A link scanner fetches the URL: nothing changes.
	a := ids[0]
	code, page := fetch(t, "GET", local(v3keys, a), nil)
	if code != 200 || !strings.Contains(page, `<button type="submit">`) || !m.weeklyBackup(t, a) {
		t.Fatalf("GET: %d, weekly_backup %v\n%s", code, m.weeklyBackup(t, a), page)
	}
	// The mail client's one-click POST.
	if code, _ := fetch(t, "POST", local(v3keys, a), oneClickBody); code != 200 || m.weeklyBackup(t, a) {
		t.Fatalf("one-click POST: %d, weekly_backup %v", code, m.weeklyBackup(t, a))
	}
	if code, _ := fetch(t, "POST", local(v3keys, a), oneClickBody); code != 200 {
		t.Fatalf("second POST: %d, want 200 (idempotent)", code)
	}
	// A person: GET the page, press its button (the form's action and fields).
	b := ids[1]
	_, page = fetch(t, "GET", local(v2keys, b), nil) // a token of the previous key, still valid
	action := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(page)
	field := regexp.MustCompile(`name="([^"]+)" value="([^"]+)"`).FindStringSubmatch(page)
	if action == nil || field == nil {
		t.Fatalf("no form in the page:\n%s", page)
	}
	code, done := fetch(t, "POST", p.base+strings.ReplaceAll(action[1], "&amp;", "&"), url.Values{field[1]: {field[2]}})
	if code != 200 || !strings.Contains(done, "no more weekly backup emails") || m.weeklyBackup(t, b) {
		t.Fatalf("button: %d, weekly_backup %v\n%s", code, m.weeklyBackup(t, b), done)
	}
	// Refused, all with the same 400 page, and nothing changes.
	c := ids[2]
	tok := v3keys.Token(c)
	forged := strings.Replace(local(v3keys, c), url.QueryEscape(tok), url.QueryEscape(tok[:len(tok)-2]+"AA"), 1)
	_, mac, _ := strings.Cut(tok, ".")
	otherMember := strings.Replace(local(v3keys, c), url.QueryEscape(tok), url.QueryEscape("999999."+mac), 1)
	_, badPage := fetch(t, "POST", forged, oneClickBody)
	for name, req := range map[string]struct {
		u    string
		form url.Values
	}{
		"forged":              {forged, oneClickBody},
		"another member's id": {otherMember, oneClickBody},
		"rotated-out key":     {local(v1keys, c), oneClickBody},
		"no token":            {p.base + "/unsubscribe", oneClickBody},
		"no one-click body":   {local(v3keys, c), url.Values{"x": {"y"}}},
		"GET forged":          {forged, nil},
	} {
		method := "POST"
		if req.form == nil {
			method = "GET"
		}
		code, body := fetch(t, method, req.u, req.form)
		if code != 400 || body != badPage {
			t.Fatalf("%s: %d, want 400 with the common body\n%s", name, code, body)
		}
	}
	if !m.weeklyBackup(t, c) {
		t.Fatal("a refused request turned the weekly backup off")
	}
	p.stop(t)
	logs := readFile(t, p.log)
	if !strings.Contains(logs, `"route":"unsubscribe"`) {
		t.Fatalf("no request log lines:\n%s", logs)
	}
	for _, secret := range []string{tok, url.QueryEscape(tok), v2keys.Token(b), "t="} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the logs hold %q:\n%s", secret, logs)
		}
	}
}
