package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// standbyName returns a unique serving name on the standby server, dropped (with its
// side copies) at test end.
func standbyName(t *testing.T, server string) string {
	t.Helper()
	name := strings.ReplaceAll(testenv.UniqueName("sb"), "-", "_")
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer c.Close(ctx)
		for _, n := range []string{name, name + backup.PreviousSuffix, name + backup.IncomingSuffix} {
			c.Exec(ctx, `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	return name
}

func statusJSON(t *testing.T, args ...string) (*backup.StatusReport, int) {
	t.Helper()
	out, errs, code := run(t, append([]string{"status", "--json"}, args...)...)
	var r backup.StatusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status --json (exit %d): %v\n%s\n%s", code, err, out, errs)
	}
	return &r, code
}

// TestCLIStandbyAndStatus is a week of nights on versitygw: two good standby refreshes
// (the second swaps, keeping the first as previous), status OK; status judged later
// (injected clock) turns WARNING then CRITICAL; a corrupted object fails the third
// refresh, the standby keeps serving, and status is CRITICAL naming the failure, also
// in the Prometheus textfile.
func TestCLIStandbyAndStatus(t *testing.T) {
	src := genDB(t, 20, 10)
	srv := testenv.S3Server(t)
	s3Env(t, srv)
	bucket := testenv.NewBucket(t, srv)
	store := "s3://" + bucket + "/nightly?endpoint=" + srv.Endpoint + "&path_style=true&region=us-east-1"
	server := testenv.StandbyDSN(t)
	name := standbyName(t, server)
	sb := []string{"--store", store, "--standby", server, "--database", name}

	id1 := backupTo(t, src, store)
	out, errs, code := run(t, append([]string{"standby", "--grace", "1s", "--jobs", "2"}, sb...)...)
	if code != 0 || !strings.Contains(out, "standby "+name+" now serves snapshot "+id1) || !strings.Contains(out, "rows proven") {
		t.Fatalf("standby night 1: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, append([]string{"status"}, sb...)...)
	if code != 0 || !strings.HasPrefix(out, "LINKBACKUP OK - ") || !strings.Contains(out, "verified by the standby drill") {
		t.Fatalf("status after night 1: exit %d\n%s\n%s", code, out, errs)
	}

	// Night 2: one more link; the standby swaps; night 1 becomes the previous copy.
	execSQL(t, src, `INSERT INTO links (member_id, url) SELECT min(id), 'https://night2.example/' FROM members`)
	id2 := backupTo(t, src, store)
	out, errs, code = run(t, append([]string{"standby", id2, "--json"}, sb...)...)
	var rec backup.StandbyRecord
	if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec.Snapshot != id2 || rec.Verified.IsZero() {
		t.Fatalf("standby night 2: exit %d\n%s\n%s", code, out, errs)
	}
	servingDSN := testenv.WithDatabase(t, server, name)
	if a, b := scalar[int64](t, src, "SELECT count(*) FROM links"), scalar[int64](t, servingDSN, "SELECT count(*) FROM links"); a != b {
		t.Fatalf("standby serves %d links, source has %d", b, a)
	}
	r, code := statusJSON(t, sb...)
	if code != 0 || r.Standby.Serving == nil || r.Standby.Serving.Snapshot != id2 || r.Standby.Previous == nil ||
		r.Standby.Previous.Snapshot != id1 || !r.Snapshot.VerifiedByStandby || r.Standby.LastAttempt == nil || !r.Standby.LastAttempt.OK {
		t.Fatalf("status after night 2: exit %d %+v", code, r)
	}
	// Without --standby, the store's record of the last attempt answers.
	out, _, code = run(t, "status", "--store", store, "--database", name)
	if code != 0 || !strings.Contains(out, "read from the store (last attempt)") {
		t.Fatalf("status without --standby: exit %d\n%s", code, out)
	}

	// The same facts judged later: 25h30m after night 2 is WARNING, 27h is CRITICAL.
	taken := r.Standby.Serving.SourceTime
	at := func(d time.Duration) string { return taken.Add(d).UTC().Format(time.RFC3339Nano) }
	out, _, code = run(t, append([]string{"status", "--now", at(25*time.Hour + 30*time.Minute)}, sb...)...)
	if code != 1 || !strings.HasPrefix(out, "LINKBACKUP WARNING - ") {
		t.Fatalf("status 25h30m later: exit %d\n%s", code, out)
	}
	out, _, code = run(t, append([]string{"status", "--now", at(27 * time.Hour)}, sb...)...)
	if code != 2 || !strings.HasPrefix(out, "LINKBACKUP CRITICAL - standby "+name+" data 27h old (limit 26h)") {
		t.Fatalf("status 27h later: exit %d\n%s", code, out)
	}
	// Thresholds come from config (here the environment).
	t.Setenv("LINKBACKUP_STATUS_STANDBY_CRIT_AGE", "48h")
	t.Setenv("LINKBACKUP_STATUS_STANDBY_WARN_AGE", "47h")
	if _, _, code = run(t, append([]string{"status", "--now", at(27 * time.Hour)}, sb...)...); code != 1 {
		t.Fatalf("status 27h later with standby limits 47h/48h: exit %d, want 1 (the snapshot is past 25h)", code)
	}
	os.Unsetenv("LINKBACKUP_STATUS_STANDBY_CRIT_AGE")
	os.Unsetenv("LINKBACKUP_STATUS_STANDBY_WARN_AGE")

	// A refusal changes nothing: --standby naming the serving copy itself.
	_, errs, code = run(t, "standby", id2, "--store", store, "--standby", servingDSN, "--database", name)
	if code != exitRefused || !strings.Contains(errs, "maintenance database") {
		t.Fatalf("standby into the serving copy: exit %d %s", code, errs)
	}

	// Night 3: an object of the new snapshot is corrupted on the S3 server's disk.
	execSQL(t, src, `INSERT INTO links (member_id, url) SELECT min(id), 'https://night3.example/' FROM members`)
	id3 := backupTo(t, src, store)
	var victim string
	filepath.Walk(filepath.Join(srv.Root, bucket, "nightly", "snapshots", id3), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(p, "public.links") && victim == "" {
			victim = p
		}
		return nil
	})
	if victim == "" {
		t.Fatalf("no links object of %s under %s", id3, srv.Root)
	}
	b, _ := os.ReadFile(victim)
	b[len(b)/2] ^= 0x01
	os.WriteFile(victim, b, 0o644)
	_, errs, code = run(t, append([]string{"standby"}, sb...)...)
	if code != exitError || !strings.Contains(errs, "keeps serving its previous copy") || !strings.Contains(errs, "public.links") {
		t.Fatalf("standby of a corrupted snapshot: exit %d %s", code, errs)
	}
	if n := scalar[string](t, servingDSN, "SELECT max(url) FROM links WHERE url LIKE 'https://night%'"); n != "https://night2.example/" {
		t.Fatalf("the standby no longer serves night 2: newest night link %q", n)
	}
	prom := filepath.Join(t.TempDir(), "linkbackup.prom")
	out, errs, code = run(t, append([]string{"status", "--prometheus", prom}, sb...)...)
	first, _, _ := strings.Cut(out, "\n")
	if code != 2 || !strings.HasPrefix(first, "LINKBACKUP CRITICAL - last standby refresh of "+name+" (snapshot "+id3+") failed") ||
		!strings.Contains(first, "public.links") {
		t.Fatalf("status after the failed night: exit %d\n%s\n%s", code, out, errs)
	}
	srcCfg, _ := pgx.ParseConfig(src) // snapshot metrics carry the source database's name
	text, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"linkbackup_status_code 2\n",
		`linkbackup_standby_last_attempt_ok{database="` + name + `"} 0` + "\n",
		`linkbackup_standby_previous_copy{database="` + name + `"} 1` + "\n",
		`linkbackup_last_snapshot_verified_by_standby{database="` + srcCfg.Database + `"} 0` + "\n",
		"# TYPE linkbackup_standby_data_age_seconds gauge\n",
		"linkbackup_last_snapshot_stored_bytes{",
	} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("textfile lacks %q:\n%s", want, text)
		}
	}
	if v, ok := promGauge(t, string(text), "linkbackup_standby_verified_timestamp_seconds", map[string]string{"database": name}); !ok || int64(v) != rec.Verified.Unix() {
		t.Fatalf("textfile: linkbackup_standby_verified_timestamp_seconds = %v (%v), want %d", v, ok, rec.Verified.Unix())
	}
	if fi, _ := os.Stat(prom); fi.Mode().Perm() != 0o644 {
		t.Fatalf("textfile mode %v, want 0644 (node_exporter must read it)", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(prom), ".*tmp")); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}
