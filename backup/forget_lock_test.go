package backup_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/retention"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// blockingOpenStore blocks every Open of a data object until release is closed.
type blockingOpenStore struct {
	backup.Store
	entered, release chan struct{}
	once             sync.Once
}

func (b *blockingOpenStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.Contains(key, "/data/") {
		b.once.Do(func() { close(b.entered) })
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.Store.Open(ctx, key)
}

// TestForgetNeverBesideBackupOrRefresh: while a backup of the database runs, forget
// refuses (the backup lock on the source); while a standby refresh runs, forget refuses
// (the standby lock on the standby server); each names the holder. When they end, their
// session locks end with them and forget runs.
func TestForgetNeverBesideBackupOrRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := bookmarkDB(t, 5, 5)
	server := testenv.StandbyDSN(t)
	st := fileStore(t)
	m1, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	o := backup.ForgetOptions{Store: st, Policy: retention.Policy{Last: 1}, OrphanAge: -1, Log: testLog(t),
		Lock: &backup.PGLocker{Source: src, Standby: server, Store: st}}
	refused := func(what string) {
		t.Helper()
		_, err := backup.Forget(ctx, o)
		if !errors.Is(err, backup.ErrLocked) || !strings.Contains(err.Error(), "linkbackup@") || !strings.Contains(err.Error(), "since") {
			t.Fatalf("forget beside a %s: %v; want ErrLocked naming the holder", what, err)
		}
	}

	bs := &blockingStore{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { _, err := backup.Backup(ctx, opts(t, src, bs)); done <- err }()
	<-bs.entered
	refused("running backup")
	close(bs.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	name := strings.ReplaceAll(testenv.UniqueName("fl"), "-", "_")
	t.Cleanup(func() {
		c := connect(t, server)
		for _, n := range []string{name, name + "__previous", name + "__incoming"} {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	bo := &blockingOpenStore{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	go func() { _, err := backup.RefreshStandby(ctx, standbyOpts(t, bo, m1.ID, server, name)); done <- err }()
	<-bo.entered
	refused("running standby refresh")
	close(bo.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	r, err := backup.Forget(ctx, o)
	if err != nil {
		t.Fatalf("forget after both ended: %v", err)
	}
	// m1 is served by the standby (proven); the second backup is the newest: nothing to remove.
	if r.Removed.Snapshots != 0 || r.Kept.Snapshots != 2 {
		t.Fatalf("kept %+v removed %+v", r.Kept, r.Removed)
	}
}
