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
	"testing"
	"time"

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
// before each run. Reports medians over LINKBACKUP_BENCH_ROUNDS rounds (default 3).
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
	var peakEarly, peakAll uint64
	for r := 0; r < rounds; r++ {
		period := fmt.Sprintf("2027-W%02d", 10+r)
		side := os.Getenv("LINKBACKUP_BENCH_ONLY") // "ours" or "naive": profiling one side
		var rate, nrate float64
		var early, all uint64
		if side != "naive" {
			clearMailpit(b, api)
			rate, early, all = runOurs(b, s, period)
			peakEarly, peakAll = max(peakEarly, early), max(peakAll, all)
			checkMailpit(b, api, len(s.selected))
			ours = append(ours, rate)
		}
		if side != "ours" {
			clearMailpit(b, api)
			nrate = runNaive(b, s, smtpAddr, period, conc)
			checkMailpit(b, api, len(s.selected))
			naive = append(naive, nrate)
		}
		clearMailpit(b, api)
		orate := runServerOnly(b, s, period, conc)
		only = append(only, orate)
		b.Logf("round %d: linkbackup %.0f msg/s, naive %.0f msg/s, server alone %.0f msg/s; heap peak %.1f MiB in the first 10%%, %.1f MiB overall",
			r+1, rate, nrate, orate, float64(early)/(1<<20), float64(all)/(1<<20))
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
	b.ReportMetric(float64(peakEarly)/(1<<20), "heap_peak_first10%_MiB")
	b.ReportMetric(float64(peakAll)/(1<<20), "heap_peak_MiB")
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
	err = Wait(ctx, s.cfg, period, 0, 100*time.Millisecond, func(n, _ int) { h.done.Store(int64(len(s.selected) - n)) })
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
