package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// genDB returns a fresh database on the primary with generated bookmarks.
func genDB(t *testing.T, members, links int) string {
	t.Helper()
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember = members, links
	dsn, _ := testenv.BookmarkDB(t, o)
	return dsn
}

func s3Env(t *testing.T, s testenv.S3) {
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_ACCESS_KEY_ID_FILE", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY_FILE", "")
}

// TestCLIBackupListVerifyOnVersityGW is the nightly backup end to end through the
// binary's commands against the real S3 server, including a corrupted object.
func TestCLIBackupListVerifyOnVersityGW(t *testing.T) {
	dsn := genDB(t, 30, 20)
	srv := testenv.S3Server(t)
	s3Env(t, srv)
	bucket := testenv.NewBucket(t, srv)
	store := "s3://" + bucket + "/nightly?endpoint=" + srv.Endpoint + "&path_style=true&region=us-east-1"

	out, errs, code := run(t, "backup", "--source", dsn, "--store", store, "--jobs", "2", "--split-table-mb", "1")
	if code != 0 {
		t.Fatalf("backup exit %d: %s", code, errs)
	}
	id := strings.TrimSpace(out)
	if len(id) != len(backup.IDFormat) {
		t.Fatalf("backup printed %q, want a snapshot id", out)
	}
	cfg, _ := pgx.ParseConfig(dsn)
	if strings.Contains(errs, cfg.Password) {
		t.Fatal("the DSN password appears in the logs")
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			lines = append(lines, m)
		}
	}
	if len(lines) == 0 || lines[len(lines)-1]["msg"] != "backup finished" {
		t.Fatalf("want JSON log lines ending with 'backup finished' when not on a terminal:\n%s", errs)
	}

	out, errs, code = run(t, "snapshots", "--store", store, "--json")
	if code != 0 {
		t.Fatalf("snapshots exit %d: %s", code, errs)
	}
	var list []snapshotSummary
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].ID != id || list[0].Rows == 0 {
		t.Fatalf("snapshots --json: %v %s", err, out)
	}
	out, _, code = run(t, "snapshots", "--store", store)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "TABLES") {
		t.Fatalf("snapshots table: %s", out)
	}

	out, errs, code = run(t, "verify", "--store", store, "latest")
	if code != 0 || !strings.Contains(out, ": OK") {
		t.Fatalf("verify exit %d: %s %s", code, out, errs)
	}
	// Corrupt one object on the server's disk (versitygw's posix backend stores files).
	if srv.Root == "" {
		t.Fatal("LINKBACKUP_TEST_S3_ROOT not set: cannot corrupt an object on the server")
	}
	var victim string
	filepath.Walk(filepath.Join(srv.Root, bucket), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(p, "public.links") && victim == "" {
			victim = p
		}
		return nil
	})
	if victim == "" {
		t.Fatal("no links object found under the versitygw root")
	}
	b, _ := os.ReadFile(victim)
	b[len(b)/2] ^= 0x01
	os.WriteFile(victim, b, 0o644)
	out, _, code = run(t, "verify", "--store", store, id)
	if code != 1 || !strings.Contains(out, "BROKEN snapshots/"+id+"/data/") || !strings.Contains(out, "public.links") {
		t.Fatalf("verify of a corrupted snapshot: exit %d\n%s", code, out)
	}
}

// TestCLIBackupS3KilledMidUpload: the S3 server dies during a backup; the run fails
// cleanly, lists nothing, and the next run (server back) succeeds.
func TestCLIBackupS3KilledMidUpload(t *testing.T) {
	dsn := genDB(t, 200, 100) // ~6 MB of COPY text, several objects
	gw := testenv.StartVersityGW(t)
	srv := testenv.S3{Endpoint: gw.Endpoint, AccessKey: gw.AccessKey, SecretKey: gw.SecretKey}
	s3Env(t, srv)
	bucket := testenv.NewBucket(t, srv)
	store := "s3://" + bucket + "/n?endpoint=" + gw.Endpoint + "&path_style=true&region=us-east-1&max_attempts=2"
	st, err := openStore(context.Background(), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	killed := make(chan struct{})
	go func() {
		// Kill as soon as the first data object appears on the server.
		for {
			objs, _ := st.List(context.Background(), "snapshots/")
			if len(objs) > 0 {
				gw.Kill()
				close(killed)
				return
			}
		}
	}()
	_, errs, code := run(t, "backup", "--source", dsn, "--store", store, "--jobs", "2", "--split-table-mb", "1", "--compression-level", "3")
	<-killed
	if code != 1 {
		t.Fatalf("backup with the S3 server killed: exit %d, want 1\n%s", code, errs)
	}
	gw.Restart()
	if ids, err := backup.SnapshotIDs(context.Background(), st); err != nil || len(ids) != 0 {
		t.Fatalf("after the failed run: snapshots %v, %v; want none listed", ids, err)
	}
	out, errs, code := run(t, "backup", "--source", dsn, "--store", store)
	if code != 0 {
		t.Fatalf("next run: exit %d %s", code, errs)
	}
	if _, _, code := run(t, "verify", "--store", store, strings.TrimSpace(out)); code != 0 {
		t.Fatalf("verify of the next run: exit %d", code)
	}
}

// TestCLIBackupKilledDoesNotBlockNextRun: a backup process killed with SIGKILL (a crash,
// the OOM killer) leaves no listed snapshot and its lock dies with its session.
func TestCLIBackupKilledDoesNotBlockNextRun(t *testing.T) {
	dsn := genDB(t, 300, 100)
	store := "file://" + t.TempDir()
	cmd := exec.Command(binary(t), "backup", "--source", dsn, "--store", store, "--jobs", "1", "--compression-level", "19")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once the lock is held (the run is under way).
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var held bool
		c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'linkbackup@%')`).Scan(&held)
		if held {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the backup never took its lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	st, _ := openStore(ctx, store, nil)
	if ids, _ := backup.SnapshotIDs(ctx, st); len(ids) != 0 {
		t.Fatalf("killed run left listed snapshots %v", ids)
	}
	out, errs, code := run(t, "backup", "--source", dsn, "--store", store, "--lock-timeout", "20s")
	if code != 0 {
		t.Fatalf("next run after a killed one: exit %d\n%s", code, errs)
	}
	if ids, _ := backup.SnapshotIDs(ctx, st); len(ids) != 1 || ids[0] != strings.TrimSpace(out) {
		t.Fatalf("snapshots after the next run: %v", ids)
	}
}
