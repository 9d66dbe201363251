package pgsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
)

type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// BenchmarkReadAndZip measures the export end to end minus the file system: the batched
// read of a bookmarkgen database (1,000 opted-in members x 200 links, plain content),
// BuildTree and WriteZip, on one goroutine. One op is one member.
//
//	LINKBACKUP_TEST_PG_PRIMARY=... go test -run '^$' -bench BenchmarkReadAndZip -count 3 ./export/pgsource/
func BenchmarkReadAndZip(b *testing.B) {
	_, conn, _ := newDB(b)
	ctx := context.Background()
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember, o.Hostile = 1000, 200, false
	o.PremiumPercent, o.OptInPercent, o.DeletedPercent = 100, 100, 0
	if _, err := bookmarkgen.Generate(ctx, conn, o); err != nil {
		b.Fatal(err)
	}
	date := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	var out discard
	var read, members int64
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; {
		st, err := pgsource.Read(ctx, conn, pgsource.Options{}, func(r *pgsource.Rows) error {
			if n >= b.N {
				return nil // drain the batch; only b.N members are timed as ops
			}
			n++
			tree, _ := export.BuildTree(r.Member, r.Folders, r.Links)
			_, err := export.WriteZip(&out, tree, export.ZipOptions{Date: date})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		read += st.Links
		members += st.Members
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "members/s")
	b.ReportMetric(float64(read)/float64(members), "links/member")
}
