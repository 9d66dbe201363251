package backup_test

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/s3"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// stallingStore calls stall once, when the first data object is written or read.
type stallingStore struct {
	backup.Store
	stall func()
	done  atomic.Bool
}

func (s *stallingStore) hit(key string) {
	if strings.Contains(key, "/data/") && s.done.CompareAndSwap(false, true) {
		s.stall()
	}
}

func (s *stallingStore) Put(ctx context.Context, key string, r io.Reader) (backup.ObjectInfo, error) {
	s.hit(key)
	return s.Store.Put(ctx, key, r)
}

func (s *stallingStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.hit(key)
	return s.Store.Open(ctx, key)
}

// TestStalledStoreFailsInBoundedTime: versitygw is stopped (SIGSTOP: it accepts
// connections and sends nothing) mid-backup and mid-standby. Each run fails within the
// configured timeouts, nothing partial is listed, the standby keeps serving; after
// SIGCONT the next runs succeed.
func TestStalledStoreFailsInBoundedTime(t *testing.T) {
	t.Parallel()
	gw := testenv.StartVersityGW(t)
	bucket := testenv.NewBucket(t, gw.S3)
	ctx := context.Background()
	st, err := s3.New(ctx, s3.Config{Bucket: bucket, Endpoint: gw.Endpoint, Region: "us-east-1", PathStyle: true,
		AccessKey: gw.AccessKey, SecretKey: gw.SecretKey, Timeout: 3 * time.Second, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	signal := func(sig syscall.Signal) {
		if err := syscall.Kill(gw.PID(), sig); err != nil {
			t.Errorf("signal %v to versitygw: %v", sig, err)
		}
	}
	t.Cleanup(func() { signal(syscall.SIGCONT) })
	src := bookmarkDB(t, 10, 10)
	server := testenv.StandbyDSN(t)
	name := strings.ReplaceAll(testenv.UniqueName("sbstall"), "-", "_")
	t.Cleanup(func() {
		c := connect(t, server)
		for _, n := range []string{name, name + backup.PreviousSuffix, name + backup.IncomingSuffix} {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	m1, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m1.ID, server, name)); err != nil {
		t.Fatal(err)
	}
	const bound = time.Minute
	bounded := func(what string, run func(context.Context) error) {
		t.Helper()
		// The outer limit only keeps a hanging run from hanging the test.
		rctx, cancel := context.WithTimeout(ctx, 2*bound)
		defer cancel()
		start := time.Now()
		err := run(rctx)
		took := time.Since(start)
		signal(syscall.SIGCONT)
		if err == nil || took > bound {
			t.Fatalf("%s with the store stalled: %v after %s; want a failure within %s", what, err, took.Round(time.Second), bound)
		}
		t.Logf("%s failed after %s: %v", what, took.Round(time.Second), err)
	}

	bounded("backup", func(ctx context.Context) error {
		_, err := backup.Backup(ctx, opts(t, src, &stallingStore{Store: st, stall: func() { signal(syscall.SIGSTOP) }}))
		return err
	})
	if ids, err := backup.SnapshotIDs(ctx, st); err != nil || len(ids) != 1 || ids[0] != m1.ID {
		t.Fatalf("snapshots after the stalled backup: %v, %v; want only %s", ids, err, m1.ID)
	}
	m2, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatalf("backup after SIGCONT: %v", err)
	}

	bounded("standby", func(ctx context.Context) error {
		_, err := backup.RefreshStandby(ctx, standbyOpts(t, &stallingStore{Store: st, stall: func() { signal(syscall.SIGSTOP) }}, m2.ID, server, name))
		return err
	})
	if rec, err := backup.ReadStandbyRecord(ctx, server, name); err != nil || rec.Snapshot != m1.ID {
		t.Fatalf("serving after the stalled refresh: %+v, %v; want %s", rec, err, m1.ID)
	}
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m2.ID, server, name)); err != nil {
		t.Fatalf("refresh after SIGCONT: %v", err)
	}
}
