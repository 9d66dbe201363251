package backup_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// BenchmarkTrust measures what encryption and signing cost, side by side on the same
// database in the same run: a backup into a file store, and a restore (load + proof) of
// it into a fresh standby database, plain and encrypted+signed. One op is one backup or
// one restore of BENCH_TRUST members x 200 links (default 600: 120,000 links). The two
// modes alternate, BENCH_TRUST_ROUNDS rounds (default 3), so that warm-up and a shared
// machine's load fall on both sides alike.
//
//	go test -run '^$' -bench BenchmarkTrust -benchtime 3x ./backup/   (make bench runs it)
func BenchmarkTrust(b *testing.B) {
	members := 600
	if v := testenv.Lookup("BENCH_TRUST"); v != "" {
		fmt.Sscan(v, &members)
	}
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember, o.Hostile = members, 200, false
	src, _ := testenv.BookmarkDB(b, o)
	write, read, _ := testKeys(b)
	rounds := 3
	if v := testenv.Lookup("BENCH_TRUST_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	for range rounds {
		for _, mode := range []string{"plain", "encrypted+signed"} {
			benchTrustMode(b, src, mode, write, read)
		}
	}
}

func benchTrustMode(b *testing.B, src, mode string, write, read *backup.Keys) {
	ctx := context.Background()
	{
		var wk, rk *backup.Keys
		if mode != "plain" {
			wk, rk = write, read
		}
		st := fileStore(b)
		var m *backup.Manifest
		b.Run("backup/"+mode, func(b *testing.B) {
			for range b.N {
				var err error
				m, err = backup.Backup(ctx, backup.Options{Source: src, Store: st, Jobs: 2, Keys: wk, ToolVersion: "bench"})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.Totals.StoredBytes)/(1<<20), "stored_MiB")
		})
		b.Run("restore/"+mode, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				target := testenv.NewDatabase(b, testenv.StandbyDSN(b))
				b.StartTimer()
				if _, err := backup.Restore(ctx, backup.RestoreOptions{Store: st, ID: m.ID, Target: target, Jobs: 2, Keys: rk}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
