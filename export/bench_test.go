package export_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/export"
)

var benchWords = strings.Fields(`about access account action active address advanced album algorithm
analysis android apache api archive article audio author backup banking basic beach blog book browser
budget build business cache calendar camera career chart chess cloud code coffee college compiler
concert config cooking course daily data database debug deploy design desktop developer docs domain
download economy editor energy engine event family fashion finance fitness flight food football forum
game garden golang graph guide guitar health history hobby holiday home hosting hotel howto image index
java journal kernel kitchen language laptop learn library linux local mail manual maps market math
media memory metrics mobile money monitor movie music network news notes online open outdoor paper
parser patterns photo piano planning podcast policy postgres price project python queue radio recipe
reference release remote report research review running rust school science search security server`)

var benchDomains = []string{"example.com", "github.com", "en.wikipedia.org", "developer.mozilla.org", "go.dev",
	"www.postgresql.org", "stackoverflow.com", "www.bbc.co.uk", "arxiv.org", "lwn.net", "www.linkagogo.com"}

// benchMember returns a realistic member: 20 folders up to three levels deep and
// `links` links with URLs of ~50-80 bytes, 3-7 word titles, 0-3 tags, notes on a third.
func benchMember(id int64, links int) (export.Member, []export.Folder, []export.Link) {
	r := rand.New(rand.NewPCG(uint64(id), 7))
	word := func() string { return benchWords[r.IntN(len(benchWords))] }
	words := func(n int, sep string) string {
		w := make([]string, n)
		for i := range w {
			w[i] = word()
		}
		return strings.Join(w, sep)
	}
	base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Hour)
	nf := 20
	folders := make([]export.Folder, nf)
	for i := range folders {
		fid := id*1000 + int64(i) + 1
		var parent int64
		if i >= 5 {
			parent = id*1000 + int64(r.IntN(i)) + 1
		}
		folders[i] = export.Folder{ID: fid, ParentID: parent, Name: strings.ToUpper(word()[:1]) + words(1+r.IntN(2), " ")[1:],
			Position: int32(r.IntN(10)), CreatedAt: base, UpdatedAt: base.Add(time.Hour)}
	}
	ls := make([]export.Link, links)
	for i := range ls {
		var folder int64
		if r.IntN(5) > 0 {
			folder = folders[r.IntN(nf)].ID
		}
		url := "https://" + benchDomains[r.IntN(len(benchDomains))] + "/" + words(1+r.IntN(3), "/")
		if r.IntN(3) == 0 {
			url += fmt.Sprintf("?id=%d&ref=%s", r.IntN(1000000), word())
		}
		var tags []string
		for range r.IntN(4) {
			tags = append(tags, word())
		}
		var notes string
		if r.IntN(3) == 0 {
			notes = words(8+r.IntN(12), " ") + "."
		}
		t := base.Add(time.Duration(r.IntN(1000000)) * time.Second)
		ls[i] = export.Link{ID: id*100000 + int64(i), FolderID: folder, URL: url, Title: words(3+r.IntN(5), " "),
			Notes: notes, Tags: tags, Private: r.IntN(10) == 0, ReadLater: r.IntN(8) == 0, Position: int32(i),
			CreatedAt: t, UpdatedAt: t.Add(time.Minute)}
	}
	return export.Member{ID: id, Email: fmt.Sprintf("m%d@example.test", id)}, folders, ls
}

type benchInput struct {
	m       export.Member
	folders []export.Folder
	links   []export.Link
}

func benchInputs(n, links int) []benchInput {
	in := make([]benchInput, n)
	for i := range in {
		in[i].m, in[i].folders, in[i].links = benchMember(int64(i+1), links)
	}
	return in
}

// cpuTime returns the CPU time (user+system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkExport measures members/s for members with 200 links each, from plain rows
// to a finished zip (Builder.Build + WriteZip at the zip level), on one goroutine.
// members/s is wall time; members/cpu-s divides by the process's CPU time (user+sys,
// GC included), which is what "per core" means and what other load on the machine does
// not distort.
//
//	go test -run '^$' -bench BenchmarkExport -count 5 ./export/
func BenchmarkExport(b *testing.B) {
	for _, level := range []int{1, 6} {
		b.Run(fmt.Sprintf("zip-level-%d", level), func(b *testing.B) {
			in := benchInputs(64, 200)
			var out counter
			date := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
			var builder export.Builder
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				m := &in[i%len(in)]
				tree, _ := builder.Build(m.m, m.folders, m.links)
				if _, err := export.WriteZip(&out, tree, export.ZipOptions{Date: date, Level: level}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "members/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "members/cpu-s")
			b.ReportMetric(float64(out.n)/float64(b.N), "zip-bytes/member")
		})
	}
	for name, f := range map[string]func(io.Writer, *export.Tree) (export.Stats, error){
		"html-only": export.WriteHTML, "xbel-only": export.WriteXBEL,
	} {
		b.Run(name, func(b *testing.B) {
			in := benchInputs(64, 200)
			var out counter
			var builder export.Builder
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				m := &in[i%len(in)]
				tree, _ := builder.Build(m.m, m.folders, m.links)
				if _, err := f(&out, tree); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "members/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "members/cpu-s")
			b.ReportMetric(float64(out.n)/float64(b.N), "bytes/member")
		})
	}
}

// TestMemoryIndependentOfMemberCount renders many members one after the other and
// checks that the live heap after a run of 1,200 members is no larger than after 200
// (plus slack): nothing accumulates per member.
func TestMemoryIndependentOfMemberCount(t *testing.T) {
	if testing.Short() {
		t.Skip("slow under -short")
	}
	in := benchInputs(16, 200)
	heapAfter := func(members int) uint64 {
		var out counter
		for i := range members {
			m := &in[i%len(in)]
			tree, _ := export.BuildTree(m.m, m.folders, m.links)
			if _, err := export.WriteZip(&out, tree, export.ZipOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	small := heapAfter(200)
	large := heapAfter(1200)
	t.Logf("live heap after 200 members: %d KiB, after 1,200: %d KiB", small>>10, large>>10)
	if large > small+2<<20 {
		t.Fatalf("live heap grew from %d KiB to %d KiB with 6x the members", small>>10, large>>10)
	}
}
