package backup_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/backup/retention"
)

// countingStore counts the requests a Store serves, by kind.
type countingStore struct {
	backup.Store
	lists, gets, stats, puts, deletes atomic.Int64
}

func (c *countingStore) List(ctx context.Context, p string) ([]backup.ObjectInfo, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, p)
}

func (c *countingStore) Open(ctx context.Context, k string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Store.Open(ctx, k)
}

func (c *countingStore) Stat(ctx context.Context, k string) (backup.ObjectInfo, error) {
	c.stats.Add(1)
	return c.Store.Stat(ctx, k)
}

func (c *countingStore) Put(ctx context.Context, k string, r io.Reader) (backup.ObjectInfo, error) {
	c.puts.Add(1)
	return c.Store.Put(ctx, k, r)
}

func (c *countingStore) Delete(ctx context.Context, k string) error {
	c.deletes.Add(1)
	return c.Store.Delete(ctx, k)
}

func (c *countingStore) total() int64 {
	return c.lists.Load() + c.gets.Load() + c.stats.Load() + c.puts.Load() + c.deletes.Load()
}

// writeNightsDirect lays out n nightly snapshots (two schema objects, two data objects,
// the manifest) straight into a file store's directory: setting up 5,000 objects through
// Put (fsync each) would dwarf what is measured.
func writeNightsDirect(b *testing.B, dir string, n int) []string {
	b.Helper()
	last := time.Date(2026, 12, 1, 2, 15, 0, 0, time.UTC)
	ids := make([]string, n)
	for i := range n {
		at := last.AddDate(0, 0, i-n+1)
		m := &backup.Manifest{Format: backup.FormatVersion, ID: at.Format(backup.IDFormat), Database: "bookmarks",
			Started: at, Finished: at.Add(time.Minute), Compression: "zstd"}
		obj := func(name string) backup.Object {
			key := backup.SnapshotPrefix(m.ID) + name
			p := filepath.Join(dir, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
				b.Fatal(err)
			}
			return backup.Object{Key: key, Size: 4096}
		}
		m.PreData, m.PostData = obj("schema/pre-data.sql.zst"), obj("schema/post-data.sql.zst")
		m.Tables = []backup.Table{{Schema: "public", Name: "links", Chunks: []backup.Chunk{
			{Object: obj("data/0000-public.links.0000.copy.zst")}, {Object: obj("data/0000-public.links.0001.copy.zst")}}}}
		raw, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(backup.ManifestKey(m.ID))), raw, 0o644); err != nil {
			b.Fatal(err)
		}
		ids[i] = m.ID
	}
	return ids
}

// BenchmarkForget1000 is forget over 1,000 nightly snapshots of one database in a file
// store, under keep_daily 7, keep_weekly 5, keep_monthly 12, keep_yearly 3 (the standby
// serves the newest): ~975 snapshots removed per run. It reports the store requests of
// one run (requests/op, and by kind) and the snapshots removed.
func BenchmarkForget1000(b *testing.B) {
	pol := retention.Policy{Daily: 7, Weekly: 5, Monthly: 12, Yearly: 3}
	var st *countingStore
	var removed int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		ids := writeNightsDirect(b, dir, 1000)
		fs, err := file.New(dir)
		if err != nil {
			b.Fatal(err)
		}
		st = &countingStore{Store: fs}
		putDrill(b, fs, "bookmarks", &backup.Manifest{ID: ids[len(ids)-1], Database: "bookmarks"}, nil)
		b.StartTimer()
		r, err := backup.Forget(context.Background(), backup.ForgetOptions{Store: st, Policy: pol, Now: forgetNow,
			Lock: &fakeLocker{}, OrphanAge: -1})
		if err != nil {
			b.Fatal(err)
		}
		removed = r.Removed.Snapshots
	}
	b.ReportMetric(float64(st.total()), "requests/op")
	b.ReportMetric(float64(st.lists.Load()), "lists/op")
	b.ReportMetric(float64(st.gets.Load()), "gets/op")
	b.ReportMetric(float64(st.stats.Load()), "stats/op")
	b.ReportMetric(float64(st.deletes.Load()), "deletes/op")
	b.ReportMetric(float64(removed), "removed/op")
	if removed < 900 {
		b.Fatalf("removed only %d snapshots", removed)
	}
}
