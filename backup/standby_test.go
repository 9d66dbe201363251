package backup_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

func standbyOpts(t *testing.T, st backup.Store, id, server, name string) backup.StandbyOptions {
	return backup.StandbyOptions{Store: st, ID: id, Server: server, Database: name, Jobs: 2, Grace: time.Second,
		ToolVersion: "test", Log: testLog(t)}
}

// servingLinks returns the number of links in the serving standby copy.
func servingLinks(t *testing.T, server, name string) int64 {
	t.Helper()
	var n int64
	if err := connect(t, testenv.WithDatabase(t, server, name)).QueryRow(context.Background(), "SELECT count(*) FROM links").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStandbyRefreshAndSwap(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 10, 10)
	st := fileStore(t)
	ctx := context.Background()
	m1, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	server := testenv.StandbyDSN(t)
	name := strings.ReplaceAll(testenv.UniqueName("sb"), "-", "_")
	t.Cleanup(func() {
		c := connect(t, server)
		for _, n := range []string{name, name + "__previous", name + "__incoming"} {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS "`+n+`" WITH (FORCE)`)
		}
	})
	rec, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m1.ID, server, name))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Snapshot != m1.ID || rec.Rows != m1.Totals.Rows || rec.Verified.IsZero() {
		t.Fatalf("record: %+v", rec)
	}
	got, err := backup.ReadStandbyRecord(ctx, server, name)
	if err != nil || got.Snapshot != m1.ID {
		t.Fatalf("ReadStandbyRecord: %+v, %v", got, err)
	}
	// The copy is marked: backing it up into a store refuses.
	if _, err := backup.Backup(ctx, opts(t, testenv.WithDatabase(t, server, name), fileStore(t))); err == nil || !strings.Contains(err.Error(), "standby copy") {
		t.Fatalf("backup of the standby copy: %v", err)
	}

	// Night 2: more data; a client holds a session on the serving copy past the grace.
	mustExec(t, connect(t, src), `INSERT INTO links (member_id, url) VALUES (1, 'https://night2.example/')`)
	m2, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	client := connect(t, testenv.WithDatabase(t, server, name))
	rec2, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m2.ID, server, name))
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Snapshot != m2.ID || servingLinks(t, server, name) != 101 {
		t.Fatalf("after night 2: %+v, links %d", rec2, servingLinks(t, server, name))
	}
	if err := client.Ping(ctx); err == nil {
		t.Fatal("the session on the old copy survived the grace period")
	}
	prev, err := backup.ReadStandbyRecord(ctx, server, name+"__previous")
	if err != nil || prev.Snapshot != m1.ID {
		t.Fatalf("previous copy: %+v, %v", prev, err)
	}
	a, err := backup.ReadStandbyAttempt(ctx, st, name)
	if err != nil || !a.OK || a.Snapshot != m2.ID {
		t.Fatalf("attempt record: %+v, %v", a, err)
	}

	// Failover: the operator promotes the copy (clears the mark) and writes to it. The
	// next refresh must refuse to replace it.
	sb := connect(t, testenv.WithDatabase(t, server, name))
	mustExec(t, sb, `DO $$ BEGIN EXECUTE format('COMMENT ON DATABASE %I IS NULL', current_database()); END $$`)
	mustExec(t, sb, `INSERT INTO links (member_id, url) VALUES (1, 'https://written-after-failover.example/')`)
	sb.Close(ctx)
	_, err = backup.RefreshStandby(ctx, standbyOpts(t, st, m2.ID, server, name))
	if !errors.Is(err, backup.ErrRefused) || !strings.Contains(err.Error(), "promoted") {
		t.Fatalf("refresh over a promoted copy: %v", err)
	}
	if n := servingLinks(t, server, name); n != 102 {
		t.Fatalf("promoted copy changed: %d links", n)
	}
}

// killingStore kills the standby server when the restore opens its first data object.
type killingStore struct {
	backup.Store
	kill func()
	done atomic.Bool
}

func (k *killingStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.Contains(key, "/data/") && k.done.CompareAndSwap(false, true) {
		k.kill()
	}
	return k.Store.Open(ctx, key)
}

func TestStandbyFailuresKeepServingCopy(t *testing.T) {
	t.Parallel()
	src := bookmarkDB(t, 10, 10)
	st := fileStore(t)
	ctx := context.Background()
	m1, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	pg := testenv.StartPostgres(t) // a private standby server we may kill
	const name = "bookmarks"
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m1.ID, pg.DSN, name)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, connect(t, src), `INSERT INTO links (member_id, url) VALUES (1, 'https://night2.example/')`)
	m2, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	assertServing := func(stage string) {
		t.Helper()
		rec, err := backup.ReadStandbyRecord(ctx, pg.DSN, name)
		if err != nil || rec.Snapshot != m1.ID {
			t.Fatalf("%s: serving record %+v, %v; want snapshot %s", stage, rec, err, m1.ID)
		}
		if n := servingLinks(t, pg.DSN, name); n != 100 {
			t.Fatalf("%s: serving copy has %d links, want the previous 100", stage, n)
		}
		a, err := backup.ReadStandbyAttempt(ctx, st, name)
		if err != nil || a.OK || a.Error == "" || a.Snapshot != m2.ID {
			t.Fatalf("%s: attempt record %+v, %v; want a failed attempt of %s", stage, a, err, m2.ID)
		}
	}

	t.Run("postgres killed mid-restore", func(t *testing.T) {
		ks := &killingStore{Store: st, kill: pg.Kill}
		_, err := backup.RefreshStandby(ctx, standbyOpts(t, ks, m2.ID, pg.DSN, name))
		if err == nil || !strings.Contains(err.Error(), "keeps serving") {
			t.Fatalf("err = %v", err)
		}
		pg.Start(t)
		assertServing("after kill")
	})
	t.Run("corrupted object", func(t *testing.T) {
		for _, tb := range m2.Tables {
			if tb.Name == "links" {
				p := filepath.Join(st.Dir(), filepath.FromSlash(tb.Chunks[0].Key))
				b, _ := os.ReadFile(p)
				good := append([]byte{}, b...)
				b[len(b)/3] ^= 0x55
				os.WriteFile(p, b, 0o644)
				t.Cleanup(func() { os.WriteFile(p, good, 0o644) })
			}
		}
		_, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m2.ID, pg.DSN, name))
		var oe *backup.ObjectError
		if !errors.As(err, &oe) || !strings.Contains(oe.Key, "links") {
			t.Fatalf("err = %v; want an ObjectError naming the links object", err)
		}
		assertServing("after corruption")
	})
	t.Run("digest mismatch", func(t *testing.T) {
		bad := *m2
		bad.ID = "20991231T000000.000Z"
		bad.Tables = append([]backup.Table{}, m2.Tables...)
		for i := range bad.Tables {
			if bad.Tables[i].Name == "members" {
				bad.Tables[i].Digest = "0123456789abcdef0123456789abcdef"
			}
		}
		if err := backup.WriteManifest(ctx, st, &bad); err != nil {
			t.Fatal(err)
		}
		_, err := backup.RefreshStandby(ctx, standbyOpts(t, st, bad.ID, pg.DSN, name))
		if !errors.Is(err, backup.ErrMismatch) || !strings.Contains(err.Error(), "public.members") {
			t.Fatalf("err = %v", err)
		}
		a, _ := backup.ReadStandbyAttempt(ctx, st, name)
		if a == nil || a.OK || a.Snapshot != bad.ID {
			t.Fatalf("attempt: %+v", a)
		}
		rec, _ := backup.ReadStandbyRecord(ctx, pg.DSN, name)
		if rec == nil || rec.Snapshot != m1.ID {
			t.Fatalf("serving: %+v", rec)
		}
	})
	// No side database is left behind by any of the failures.
	var n int
	connect(t, pg.DSN).QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE '%__incoming'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d __incoming databases left", n)
	}
	// And the next good night goes through.
	if _, err := backup.RefreshStandby(ctx, standbyOpts(t, st, m2.ID, pg.DSN, name)); err != nil {
		t.Fatal(err)
	}
	if servingLinks(t, pg.DSN, name) != 101 {
		t.Fatal("good night after failures did not swap")
	}
}

// TestStandbyDiskFullKeepsServingCopy: the standby copies live in a tablespace on a tiny
// tmpfs; a night whose data no longer fits fails with "No space left on device", the
// serving copy is untouched and the side database is gone (its space freed).
func TestStandbyDiskFullKeepsServingCopy(t *testing.T) {
	t.Parallel()
	mnt, err := os.MkdirTemp("", "lbtiny-") // t.TempDir's parents are 0700: postgres could not reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(mnt) })
	os.Chmod(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=12m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		if testenv.Required() {
			t.Fatalf("mount a tmpfs for the disk-full test (needs root): %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	if out, err := exec.Command("chown", "postgres:postgres", mnt).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	src := bookmarkDB(t, 10, 10)
	st := fileStore(t)
	ctx := context.Background()
	small, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	pg := testenv.StartPostgres(t)
	t.Cleanup(func() {
		connect(t, pg.DSN).Exec(context.Background(), "DROP DATABASE IF EXISTS bookmarks WITH (FORCE)")
	})
	mustExec(t, connect(t, pg.DSN), "CREATE TABLESPACE tiny LOCATION '"+mnt+"'")
	so := standbyOpts(t, st, small.ID, pg.DSN, "bookmarks")
	so.Tablespace = "tiny"
	if _, err := backup.RefreshStandby(ctx, so); err != nil {
		t.Fatalf("the small night must fit: %v", err)
	}
	// Grow the source well past 12 MB.
	mustExec(t, connect(t, src), `INSERT INTO links (member_id, url, notes)
		SELECT 1 + i % 10, 'https://big.example/' || i, repeat(md5(i::text), 20) FROM generate_series(1, 40000) i`)
	big, err := backup.Backup(ctx, opts(t, src, st))
	if err != nil {
		t.Fatal(err)
	}
	so.ID = big.ID
	_, err = backup.RefreshStandby(ctx, so)
	if err == nil || !strings.Contains(err.Error(), "No space left on device") || !strings.Contains(err.Error(), "keeps serving") {
		t.Fatalf("err = %v; want a disk-full failure that keeps the serving copy", err)
	}
	rec, err := backup.ReadStandbyRecord(ctx, pg.DSN, "bookmarks")
	if err != nil || rec.Snapshot != small.ID || servingLinks(t, pg.DSN, "bookmarks") != 100 {
		t.Fatalf("serving copy after disk full: %+v, %v\nserver log:\n%s", rec, err, pg.Log())
	}
	var n int
	connect(t, pg.DSN).QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = 'bookmarks__incoming'`).Scan(&n)
	if n != 0 {
		t.Fatal("the failed side database was left behind")
	}
}
