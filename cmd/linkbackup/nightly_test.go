package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// nightlyConfig writes a config file for `linkbackup nightly`.
func nightlyConfig(t *testing.T, source, store, standby, database, heartbeat, prom string) string {
	t.Helper()
	y := fmt.Sprintf("source: %q\nstore: %q\nbackup:\n  jobs: 2\n", source, store)
	if standby != "" {
		y += fmt.Sprintf("standby:\n  server: %q\n  database: %q\n  grace: 1s\n  jobs: 2\n", standby, database)
	}
	if prom != "" {
		y += fmt.Sprintf("status:\n  prometheus_file: %q\n", prom)
	}
	if heartbeat != "" {
		y += fmt.Sprintf("nightly:\n  heartbeat_url: %q\n  heartbeat_timeout: 2s\n", heartbeat)
	}
	p := filepath.Join(t.TempDir(), "linkbackup.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// summaryOf parses the one JSON summary line nightly prints when stdout is not a terminal.
func summaryOf(t *testing.T, out string) nightlySummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s nightlySummary
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &s) != nil || s.Msg != "nightly" {
		t.Fatalf("want exactly one JSON summary line on stdout, got:\n%s", out)
	}
	return s
}

const hbSecret = "5e1f0c2a-check-uuid"

// TestCLINightly: backup then standby, one exit code, one summary, heartbeat /start then
// success, and the status textfile.
func TestCLINightly(t *testing.T) {
	src := genDB(t, 10, 10)
	store := "file://" + t.TempDir()
	server := testenv.StandbyDSN(t)
	name := standbyName(t, server)
	hb := newHBServer(t)
	prom := filepath.Join(t.TempDir(), "linkbackup.prom")
	cfg := nightlyConfig(t, src, store, server, name, hb.URL+"/"+hbSecret, prom)

	out, errs, code := run(t, "nightly", "--config", cfg)
	if code != 0 {
		t.Fatalf("nightly exit %d\n%s\n%s", code, out, errs)
	}
	s := summaryOf(t, out)
	if !s.OK || s.ExitCode != 0 || !s.Backup.OK || s.Backup.Snapshot == "" || !s.Standby.OK ||
		s.Standby.Snapshot != s.Backup.Snapshot || s.Standby.Database != name || s.Status == nil || s.Status.State != "OK" ||
		s.Retention.Ran || !strings.Contains(s.Retention.Skipped, "no retention policy") {
		t.Fatalf("summary: %s", out)
	}
	got := hb.got()
	if len(got) != 2 || got[0].Path != "/"+hbSecret+"/start" || got[1].Path != "/"+hbSecret ||
		!strings.Contains(got[1].Body, "nightly OK") || !strings.Contains(got[1].Body, s.Backup.Snapshot) {
		t.Fatalf("heartbeat pings: %+v", got)
	}
	text, err := os.ReadFile(prom)
	if err != nil || !strings.Contains(string(text), "linkbackup_status_code 0\n") ||
		!strings.Contains(string(text), `linkbackup_standby_last_attempt_ok{database="`+name+`"} 1`) {
		t.Fatalf("textfile: %v\n%s", err, text)
	}
	pw, _ := pgx.ParseConfig(src)
	if strings.Contains(out+errs, hbSecret) || strings.Contains(out+errs, pw.Password) {
		t.Fatal("a secret (heartbeat URL or DSN password) appears in the output")
	}
	if n := scalar[int64](t, testenv.WithDatabase(t, server, name), "SELECT count(*) FROM links"); n != scalar[int64](t, src, "SELECT count(*) FROM links") {
		t.Fatalf("standby serves %d links", n)
	}

	// With a policy, the third night's forget removes the first snapshot: the second is
	// the standby's previous copy, the third is served (and the newest).
	first := s.Backup.Snapshot
	t.Setenv("LINKBACKUP_RETENTION_KEEP_LAST", "1")
	for night := 2; night <= 3; night++ {
		if out, errs, code = run(t, "nightly", "--config", cfg); code != 0 {
			t.Fatalf("night %d: exit %d\n%s\n%s", night, code, out, errs)
		}
	}
	s = summaryOf(t, out)
	if r := s.Retention; !r.Ran || !r.OK || r.RemovedSnapshots != 1 || r.KeptSnapshots != 2 || r.RemovedBytes <= 0 {
		t.Fatalf("third night's forget: %+v", r)
	}
	out, _, _ = run(t, "snapshots", "--store", store)
	if strings.Contains(out, first) || strings.Count(out, "\n") != 3 {
		t.Fatalf("after the third night:\n%s", out)
	}
}

// TestCLINightlyFailures: an unreachable source fails the night (exit 1, /fail with the
// error, standby untouched); a failed standby after a good backup exits 3; a dead
// heartbeat monitor never fails the night; a bad heartbeat URL is a usage error that
// does not print the URL.
func TestCLINightlyFailures(t *testing.T) {
	store := "file://" + t.TempDir()
	server := testenv.StandbyDSN(t)

	t.Run("source unreachable", func(t *testing.T) {
		name := standbyName(t, server)
		hb := newHBServer(t)
		src := "postgres://postgres:topsecret@127.0.0.1:1/bookmarks?sslmode=disable&connect_timeout=3"
		cfg := nightlyConfig(t, src, store, server, name, hb.URL+"/"+hbSecret, "")
		out, errs, code := run(t, "nightly", "--config", cfg)
		if code != exitError {
			t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errs)
		}
		s := summaryOf(t, out)
		if s.OK || s.ExitCode != 1 || s.Backup.OK || s.Standby.Ran || s.Standby.Skipped != "backup failed" {
			t.Fatalf("summary: %s", out)
		}
		got := hb.got()
		if len(got) != 2 || got[0].Path != "/"+hbSecret+"/start" || got[1].Path != "/"+hbSecret+"/fail" ||
			!strings.Contains(got[1].Body, "backup") || !strings.Contains(got[1].Body, "127.0.0.1") {
			t.Fatalf("heartbeat pings: %+v", got)
		}
		if strings.Contains(out+errs+got[1].Body, "topsecret") {
			t.Fatal("the source password leaked into the output or the heartbeat body")
		}
		if n := scalar[int64](t, server, "SELECT count(*) FROM pg_database WHERE datname LIKE $1", name+"%"); n != 0 {
			t.Fatalf("the standby was touched after a failed backup: %d databases", n)
		}
	})

	t.Run("standby unreachable", func(t *testing.T) {
		src := genDB(t, 5, 5)
		hb := newHBServer(t)
		cfg := nightlyConfig(t, src, store, "postgres://postgres:x@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=3", "sb", hb.URL+"/"+hbSecret, "")
		out, errs, code := run(t, "nightly", "--config", cfg)
		if code != exitPartial {
			t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errs)
		}
		s := summaryOf(t, out)
		if s.OK || !s.Backup.OK || !s.Standby.Ran || s.Standby.OK || !strings.Contains(s.Error, "standby") {
			t.Fatalf("summary: %s", out)
		}
		got := hb.got()
		if len(got) != 2 || got[1].Path != "/"+hbSecret+"/fail" || !strings.Contains(got[1].Body, "standby") {
			t.Fatalf("heartbeat pings: %+v", got)
		}
	})

	// Retention after failed drills: forget runs, and keeps what was never proven.
	t.Run("forget after failed drills", func(t *testing.T) {
		src := genDB(t, 5, 5)
		store := "file://" + t.TempDir()
		cfg := nightlyConfig(t, src, store, "postgres://postgres:x@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=3", "sb", "", "")
		t.Setenv("LINKBACKUP_RETENTION_KEEP_LAST", "1")
		var s nightlySummary
		for night := range 2 {
			out, errs, code := run(t, "nightly", "--config", cfg)
			if code != exitPartial {
				t.Fatalf("night %d: exit %d, want 3\n%s\n%s", night, code, out, errs)
			}
			s = summaryOf(t, out)
		}
		if r := s.Retention; !r.Ran || !r.OK || r.RemovedSnapshots != 0 || r.KeptSnapshots != 2 || !strings.Contains(r.Summary, "kept 2") {
			t.Fatalf("retention after failed drills: %+v", r)
		}
	})

	t.Run("heartbeat monitor down", func(t *testing.T) {
		src := genDB(t, 5, 5)
		cfg := nightlyConfig(t, src, store, "", "", "http://127.0.0.1:1/"+hbSecret, "")
		out, errs, code := run(t, "nightly", "--config", cfg)
		if code != 0 {
			t.Fatalf("exit %d with the monitor down, want 0\n%s\n%s", code, out, errs)
		}
		if s := summaryOf(t, out); !s.OK || s.Standby.Ran || !strings.Contains(s.Standby.Skipped, "no standby configured") {
			t.Fatalf("summary: %s", out)
		}
		if !strings.Contains(errs, "heartbeat ping failed") || strings.Contains(errs, hbSecret) {
			t.Fatalf("want a warning without the URL's path:\n%s", errs)
		}
	})

	t.Run("bad heartbeat URL", func(t *testing.T) {
		t.Setenv("LINKBACKUP_NIGHTLY_HEARTBEAT_URL", "hc-ping.com/"+hbSecret)
		_, errs, code := run(t, "nightly", "--source", "postgres://x@127.0.0.1:1/x", "--store", store)
		if code != exitUsage || !strings.Contains(errs, "nightly.heartbeat_url") || strings.Contains(errs, hbSecret) {
			t.Fatalf("exit %d: %s", code, errs)
		}
	})
}
