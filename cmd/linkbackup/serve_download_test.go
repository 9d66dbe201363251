package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/mailer/smtptest"
)

// TestServeDownloadLargeZip: with every zip over mail.max_attachment_mb, export --mail
// puts them in mail.store and the messages carry serve's signed links
// (mail.link_base_url); serve streams each as the member's zip; a tampered link is
// 404. mail.store equal to the snapshot store is refused by export and serve (exit 2).
func TestServeDownloadLargeZip(t *testing.T) {
	emls := t.TempDir()
	m := newMailTest(t, 3, 5, "file://"+emls)
	zips := "file://" + t.TempDir()
	base := readFile(t, m.config)
	p := startServe(t, writeConfig(t, m, base+"  store: \""+zips+"\"\n"))
	cfg := strings.Replace(base, "  rate: 0\n", "  rate: 0\n  max_attachment_mb: 0.000001\n  store: \""+zips+"\"\n  link_base_url: \""+p.base+"\"\n", 1)
	writeFile(t, m.config, cfg)
	if out, errs, code := run(t, exportCmd, "--mail", "--period", testPeriod, "--config", m.config); code != 0 {
		t.Fatalf("export --mail: exit %d %s %s", code, out, errs)
	}
	files, _ := filepath.Glob(filepath.Join(emls, "*.eml"))
	if len(files) != len(m.selected) {
		t.Fatalf("%d messages, want %d", len(files), len(m.selected))
	}
	link := regexp.MustCompile(`http://127\.0\.0\.1:\d+/download/\S+`)
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		msg, err := smtptest.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		u := link.FindString(msg.Text)
		if u == "" || len(msg.Attachments) != 0 {
			t.Fatalf("%s: no download link (or an attachment):\n%s", f, msg.Text)
		}
		code, body := fetch(t, "GET", u, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d", u, code)
		}
		if _, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body))); err != nil {
			t.Fatalf("the download is not a zip: %v", err)
		}
		if code, _ := fetch(t, "GET", strings.Replace(u, "s=", "s=A", 1), nil); code != 404 {
			t.Fatalf("tampered link: %d, want 404", code)
		}
	}
	p.stop(t)

	same := strings.Replace(cfg, "source:", "store: \""+zips+"\"\nsource:", 1)
	writeFile(t, m.config, same)
	if _, errs, code := run(t, exportCmd, "--mail", "--period", "2026-W49", "--config", m.config); code != exitUsage || !strings.Contains(errs, "snapshot store") {
		t.Fatalf("mail.store = store: export exit %d, want 2: %s", code, errs)
	}
	if _, errs, code := run(t, "serve", "--config", m.config, "--listen", "127.0.0.1:0"); code != exitUsage || !strings.Contains(errs, "snapshot store") {
		t.Fatalf("mail.store = store: serve exit %d, want 2: %s", code, errs)
	}
}

// writeConfig writes a second config file for m with content.
func writeConfig(t *testing.T, m *mailTest, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "serve.yaml")
	writeFile(t, path, content)
	return path
}
