package weekly

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/wneessen/go-mail"
	"golang.org/x/sync/errgroup"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
	"github.com/linkagogo/linkbackup/mailer"
	"github.com/linkagogo/linkbackup/mailer/smtptest"
)

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkWeeklyMailpit measures the weekly email end to end against mailpit:
// LINKBACKUP_BENCH_MEMBERS members (default 10,000) x 200 links, all selected. Each
// round runs linkbackup (River jobs, ledger, per-member read, zip, pooled SMTP
// connections) and then a naive baseline (one streaming read of all members, zip,
// one new SMTP connection per message) with the same concurrency; mailpit is emptied
// before each run, and before each linkbackup run the previous round's completed jobs
// are deleted and vacuumed away (weekGone), as a weekly run finds River's table.
// Reports medians over LINKBACKUP_BENCH_ROUNDS rounds (default 3).
// Run it with scripts/bench-mail.sh (a mailpit that keeps every message).
func BenchmarkWeeklyMailpit(b *testing.B) {
	smtpAddr, api := os.Getenv("LINKBACKUP_BENCH_SMTP"), os.Getenv("LINKBACKUP_BENCH_MAILPIT")
	var sink *smtptest.Server
	switch {
	case os.Getenv("LINKBACKUP_BENCH_SINK") == "1":
		// An in-process SMTP server that keeps messages in memory: the pipeline's own
		// ceiling, without mailpit's parsing and storage.
		sink = smtptest.Start(b, smtptest.Hooks{Discard: true})
		smtpAddr = sink.Addr
	case smtpAddr == "":
		smtpAddr, api = testenv.Mailpit(b)
	}
	members := benchEnv("LINKBACKUP_BENCH_MEMBERS", 10_000)
	rounds := benchEnv("LINKBACKUP_BENCH_ROUNDS", 3)
	conc := benchEnv("LINKBACKUP_BENCH_CONCURRENCY", 8)
	conns := benchEnv("LINKBACKUP_BENCH_CONNECTIONS", 4)
	start := time.Now()
	gen := bookmarkgen.DefaultOptions()
	gen.Members, gen.LinksPerMember, gen.PremiumPercent, gen.OptInPercent, gen.DeletedPercent = members, 200, 100, 100, 0
	tr, err := mailer.Open("smtp://"+smtpAddr+"?tls=none", "", conns)
	if err != nil {
		b.Fatal(err)
	}
	s := setup(b, gen, false, tr)
	s.cfg.Concurrency = conc
	s.cfg.Log = nil
	s.cfg.Now = nil
	s.cfg.RetryBase = time.Second
	b.Logf("generated %d members x 200 links in %s; concurrency %d, SMTP pool %d", len(s.selected), time.Since(start).Round(time.Second), conc, conns)

	var ours, naive, only []float64
	var oursCPU, naiveCPU []cpuPerMsg
	var peakEarly, peakAll uint64
	cpu := newCPUMeter(b, s.cfg.State)
	for r := 0; r < rounds; r++ {
		period := fmt.Sprintf("2027-W%02d", 10+r)
		side := os.Getenv("LINKBACKUP_BENCH_ONLY") // "ours" or "naive": profiling one side
		var rate, nrate float64
		var early, all uint64
		var oc, nc cpuPerMsg
		if side != "naive" {
			clearMailpit(b, api)
			weekGone(b, s.cfg)
			c0 := cpu.read()
			rate, early, all = runOurs(b, s, period)
			oc = cpu.read().since(c0, len(s.selected))
			peakEarly, peakAll = max(peakEarly, early), max(peakAll, all)
			checkMailpit(b, api, len(s.selected))
			ours, oursCPU = append(ours, rate), append(oursCPU, oc)
		}
		if side != "ours" {
			clearMailpit(b, api)
			c0 := cpu.read()
			nrate = runNaive(b, s, smtpAddr, period, conc)
			nc = cpu.read().since(c0, len(s.selected))
			checkMailpit(b, api, len(s.selected))
			naive, naiveCPU = append(naive, nrate), append(naiveCPU, nc)
		}
		clearMailpit(b, api)
		orate := runServerOnly(b, s, period, conc)
		only = append(only, orate)
		b.Logf("round %d: linkbackup %.0f msg/s, naive %.0f msg/s, server alone %.0f msg/s; heap peak %.1f MiB in the first 10%%, %.1f MiB overall",
			r+1, rate, nrate, orate, float64(early)/(1<<20), float64(all)/(1<<20))
		b.Logf("round %d: CPU per message: linkbackup %s, naive %s", r+1, oc, nc)
	}
	clearMailpit(b, api)
	med := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	b.ReportMetric(med(ours), "linkbackup_msg/s")
	b.ReportMetric(med(naive), "naive_msg/s")
	b.ReportMetric(med(only), "server_alone_msg/s")
	medCPU := func(xs []cpuPerMsg) (g, p float64) {
		var gs, ps []float64
		for _, x := range xs {
			gs, ps = append(gs, x.proc), append(ps, x.pg)
		}
		return med(gs), med(ps)
	}
	g, p := medCPU(oursCPU)
	b.ReportMetric(g, "linkbackup_go_cpu_ms/msg")
	b.ReportMetric(p, "linkbackup_pg_cpu_ms/msg")
	g, p = medCPU(naiveCPU)
	b.ReportMetric(g, "naive_go_cpu_ms/msg")
	b.ReportMetric(p, "naive_pg_cpu_ms/msg")
	b.ReportMetric(float64(peakEarly)/(1<<20), "heap_peak_first10%_MiB")
	b.ReportMetric(float64(peakAll)/(1<<20), "heap_peak_MiB")
}

// cpuMeter reads the CPU time of this process (with the in-process sink, the sink's
// too) and, when PostgreSQL runs on this machine, of the state database's server: its
// postmaster and all its processes, live and exited, from /proc. The bench stack's
// server is used by nothing else during a run.
type cpuMeter struct{ postmaster int }

type cpuSample struct{ proc, pg time.Duration }

// cpuPerMsg is CPU milliseconds per message (pg < 0: not measured).
type cpuPerMsg struct{ proc, pg float64 }

func (c cpuPerMsg) String() string {
	if c.pg < 0 {
		return fmt.Sprintf("Go %.2f ms", c.proc)
	}
	return fmt.Sprintf("Go %.2f ms + PostgreSQL %.2f ms", c.proc, c.pg)
}

func newCPUMeter(b *testing.B, p interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) cpuMeter {
	var pid int
	if err := p.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	ppid, _, err := procCPU(pid)
	if err != nil {
		b.Logf("PostgreSQL CPU not measured: %v", err)
		return cpuMeter{}
	}
	return cpuMeter{postmaster: ppid}
}

// procCPU returns a process's parent and its CPU time (with that of its waited-for
// children) from /proc/PID/stat.
func procCPU(pid int) (ppid int, cpu time.Duration, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	var ticks int64
	for _, v := range f[11:15] { // utime stime cutime cstime
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return ppid, time.Duration(ticks) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

func (c cpuMeter) read() cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if c.postmaster == 0 {
		s.pg = -1
		return s
	}
	_, s.pg, _ = procCPU(c.postmaster)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, err := procCPU(pid); err == nil && ppid == c.postmaster {
			s.pg += cpu
		}
	}
	return s
}

func (s cpuSample) since(s0 cpuSample, msgs int) cpuPerMsg {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(msgs) }
	c := cpuPerMsg{proc: ms(s.proc - s0.proc), pg: -1}
	if s.pg >= 0 && s0.pg >= 0 {
		c.pg = ms(s.pg - s0.pg)
	}
	return c
}

// heapSampler records the peak live heap, separately for the first tenth of the run.
type heapSampler struct {
	done        atomic.Int64
	total       int64
	early, peak atomic.Uint64
	stop        chan struct{}
	wg          sync.WaitGroup
}

func sampleHeap(total int) *heapSampler {
	h := &heapSampler{total: int64(total), stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			if h.done.Load()*10 <= h.total && ms.HeapInuse > h.early.Load() {
				h.early.Store(ms.HeapInuse)
			}
		}
	}()
	return h
}

func (h *heapSampler) close() (early, peak uint64) {
	close(h.stop)
	h.wg.Wait()
	return h.early.Load(), h.peak.Load()
}

// runOurs enqueues and works one period in-process; returns messages per second.
func runOurs(b *testing.B, s *testSetup, period string) (float64, uint64, uint64) {
	ctx := context.Background()
	runtime.GC()
	h := sampleHeap(len(s.selected))
	start := time.Now()
	client, err := NewClient(s.cfg, true)
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := Enqueue(ctx, s.cfg, client, EnqueueOptions{Period: period}); err != nil {
		b.Fatal(err)
	}
	// Polled as often as export --mail polls (cmd/linkbackup/mail.go).
	err = Wait(ctx, s.cfg, period, 0, 200*time.Millisecond, func(n, _ int) { h.done.Store(int64(len(s.selected) - n)) })
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	client.Stop(ctx)
	early, peak := h.close()
	sum, err := Summarize(ctx, s.cfg, period, 0, start.Add(-time.Minute))
	if err != nil || sum.SentNow != len(s.selected) {
		b.Fatalf("sent %d of %d: %v", sum.SentNow, len(s.selected), err)
	}
	return float64(len(s.selected)) / elapsed.Seconds(), early, peak
}

// runNaive is the baseline: stream every member, render, and send each message over
// a new SMTP connection (go-mail DialAndSend), conc at a time.
func runNaive(b *testing.B, s *testSetup, smtpAddr, period string, conc int) float64 {
	ctx := context.Background()
	host, port, _ := strings.Cut(smtpAddr, ":")
	p, _ := strconv.Atoi(port)
	start := time.Now()
	conn, err := s.cfg.Source.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan *pgsource.Rows, conc)
	g.Go(func() error {
		defer close(work)
		_, err := pgsource.Read(gctx, conn.Conn(), pgsource.Options{}, func(r *pgsource.Rows) error {
			select {
			case work <- r:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
		return err
	})
	var sent atomic.Int64
	for i := 0; i < conc; i++ {
		g.Go(func() error {
			for r := range work {
				tree, _ := export.BuildTree(r.Member, r.Folders, r.Links)
				var buf bytes.Buffer
				st, err := export.WriteZip(&buf, tree, export.ZipOptions{})
				if err != nil {
					return err
				}
				m, err := s.cfg.Composer.Weekly(mailer.Weekly{Member: r.Member, Period: period, Date: time.Now(), Stats: st, NewLinks: -1,
					Attachment: &mailer.Attachment{Name: mailer.AttachmentName(period), Data: bytes.NewReader(buf.Bytes()), Size: st.Bytes}})
				if err != nil {
					return err
				}
				c, err := mail.NewClient(host, mail.WithPort(p), mail.WithTLSPolicy(mail.NoTLS))
				if err != nil {
					return err
				}
				if err := c.DialAndSendWithContext(gctx, m); err != nil {
					return err
				}
				sent.Add(1)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	if int(sent.Load()) != len(s.selected) {
		b.Fatalf("naive sent %d of %d", sent.Load(), len(s.selected))
	}
	return float64(sent.Load()) / time.Since(start).Seconds()
}

// weekGone puts the state database where a weekly run finds it: River's cleaner has
// deleted the completed jobs of the previous week (retention 24 h) and vacuum has
// removed their dead rows. The ledger keeps its rows, as it does in production.
func weekGone(b *testing.B, cfg *Config) {
	ctx := context.Background()
	cfg.defaults()
	jobs := pgx.Identifier{cfg.Schema, "river_job"}.Sanitize()
	if _, err := cfg.State.Exec(ctx, `DELETE FROM `+jobs+` WHERE state = 'completed'`); err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{jobs, cfg.table()} {
		if _, err := cfg.State.Exec(ctx, `VACUUM (ANALYZE) `+t); err != nil {
			b.Fatal(err)
		}
	}
}

func clearMailpit(b *testing.B, api string) {
	if api == "" {
		return
	}
	req, _ := http.NewRequest(http.MethodDelete, api+"/api/v1/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

// checkMailpit checks that mailpit holds want messages.
func checkMailpit(b *testing.B, api string, want int) {
	if api == "" {
		return
	}
	resp, err := http.Get(api + "/api/v1/messages?limit=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Total int }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		b.Fatal(err)
	}
	if v.Total != want {
		b.Fatalf("mailpit holds %d messages, want %d (is mailpit's --max large enough?)", v.Total, want)
	}
}

// runServerOnly measures the SMTP server alone: messages of the real size (member 1's
// zip attached to everyone) composed in advance, sent over the pooled transport, conc
// at a time. No database, no rendering in the timed part.
func runServerOnly(b *testing.B, s *testSetup, period string, conc int) float64 {
	ctx := context.Background()
	r, err := (&worker{cfg: s.cfg}).load(ctx, 1)
	if err != nil || r == nil {
		b.Fatalf("load member 1: %v", err)
	}
	tree, _ := export.BuildTree(r.Member, r.Folders, r.Links)
	var zip bytes.Buffer
	st, err := export.WriteZip(&zip, tree, export.ZipOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n := min(len(s.selected), 3000)
	msgs := make(chan *mail.Msg, n)
	for i := 0; i < n; i++ {
		m, err := s.cfg.Composer.Weekly(mailer.Weekly{Member: export.Member{ID: int64(i + 1), Email: fmt.Sprintf("m%d@example.test", i)},
			Period: period, Date: time.Now(), Stats: st, NewLinks: -1,
			Attachment: &mailer.Attachment{Name: mailer.AttachmentName(period), Data: bytes.NewReader(zip.Bytes()), Size: st.Bytes}})
		if err != nil {
			b.Fatal(err)
		}
		msgs <- m
	}
	close(msgs)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i := 0; i < conc; i++ {
		g.Go(func() error {
			for m := range msgs {
				if _, err := s.cfg.Transport.Send(gctx, m); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}
