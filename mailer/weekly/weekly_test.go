package weekly

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkagogo/linkbackup/backup/file"
	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
	"github.com/linkagogo/linkbackup/mailer"
	"github.com/linkagogo/linkbackup/mailer/smtptest"
)

const period = "2026-W48"

var fixedNow = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

// testSetup is a generated source database, a migrated state and a config.
type testSetup struct {
	cfg      *Config
	selected map[int64]string // member id -> email, as the member query selects them
	domain   string           // Message-ID domain, unique to the test
}

func pool(t testing.TB, dsn string, max int32) *pgxpool.Pool {
	t.Helper()
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pc.MaxConns = max
	p, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// setup generates members with gen, migrates the state (in the source database when
// sameDB) and returns a config sending through tr.
func setup(t testing.TB, gen bookmarkgen.Options, sameDB bool, tr mailer.Transport) *testSetup {
	t.Helper()
	ctx := context.Background()
	primary := testenv.PrimaryDSN(t)
	srcDSN, _ := testenv.BookmarkDB(t, gen)
	conn, err := pgx.Connect(ctx, srcDSN)
	if err != nil {
		t.Fatal(err)
	}
	s := &testSetup{selected: map[int64]string{}, domain: testenv.UniqueName("t") + ".linkagogo.test"}
	rows, err := conn.Query(ctx, pgsource.DefaultMemberQuery)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var email, name string
		if err := rows.Scan(&id, &email, &name); err != nil {
			t.Fatal(err)
		}
		s.selected[id] = email
	}
	rows.Close()
	conn.Close(ctx)
	if len(s.selected) == 0 {
		t.Fatal("the generator selected no member")
	}
	stateDSN := srcDSN
	if !sameDB {
		stateDSN = testenv.NewDatabase(t, primary)
	}
	from, _ := mailer.ParseAddress("LinkaGoGo <backup@linkagogo.test>")
	s.cfg = &Config{
		State:  pool(t, stateDSN, 20),
		Source: pool(t, srcDSN, 10),
		Composer: &mailer.Composer{From: from, MessageIDDomain: s.domain,
			Unsubscribe: mailer.Unsubscribe{URL: "https://linkagogo.test/unsubscribe?t={token}", Secret: []byte("weekly-test-secret-0123456789")}},
		Transport:   tr,
		Concurrency: 4,
		MaxAttempts: 6,
		RetryBase:   50 * time.Millisecond,
		RetryMax:    400 * time.Millisecond,
		JobTimeout:  20 * time.Second,
		Log:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now:         func() time.Time { return fixedNow },
	}
	if _, err := Migrate(ctx, s.cfg.State, "", s.cfg.Log); err != nil {
		t.Fatal(err)
	}
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// run enqueues the period and works it in-process until every job is finished.
func (s *testSetup) run(t testing.TB, member int64) (EnqueueResult, Summary) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	since, err := Now(ctx, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(s.cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(context.Background())
	er, err := Enqueue(ctx, s.cfg, client, EnqueueOptions{Period: period, MemberID: member, BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := Wait(ctx, s.cfg, period, member, 50*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	sum, err := Summarize(ctx, s.cfg, period, member, since)
	if err != nil {
		t.Fatal(err)
	}
	return er, sum
}

// failures returns the failed rows of the period.
func (s *testSetup) failures(t testing.TB) map[int64]Failure {
	t.Helper()
	out := map[int64]Failure{}
	if err := Failures(context.Background(), s.cfg, period, 0, func(f Failure) error { out[f.MemberID] = f; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// memberIDs returns the selected members' ids (in no order); it fails the test when
// fewer than min are selected.
func (s *testSetup) memberIDs(t testing.TB, min int) []int64 {
	t.Helper()
	ids := make([]int64, 0, len(s.selected))
	for id := range s.selected {
		ids = append(ids, id)
	}
	if len(ids) < min {
		t.Fatalf("only %d members selected, want at least %d", len(ids), min)
	}
	return ids
}

// memberOf returns the member id of a Message-ID made by the test's composer.
func (s *testSetup) memberOf(t testing.TB, messageID string) int64 {
	t.Helper()
	var id int64
	var p string
	if _, err := fmt.Sscanf(strings.Trim(messageID, "<>"), "weekly-backup.%d.%s", &id, &p); err != nil || !strings.HasPrefix(p, period+"@") {
		t.Fatalf("unexpected Message-ID %q", messageID)
	}
	return id
}

// checkExactlyOnce: every selected member but those in failed has exactly one
// message, nobody else has any.
func (s *testSetup) checkExactlyOnce(t testing.TB, ids []string, failed map[int64]bool) {
	t.Helper()
	count := map[int64]int{}
	for _, id := range ids {
		m := s.memberOf(t, id)
		if _, ok := s.selected[m]; !ok {
			t.Fatalf("member %d was mailed but is not selected", m)
		}
		count[m]++
	}
	for m := range s.selected {
		want := 1
		if failed[m] {
			want = 0
		}
		if count[m] != want {
			t.Fatalf("member %d got %d messages, want %d", m, count[m], want)
		}
	}
}

func dkimKey(t testing.TB) (*mailer.DKIM, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return &mailer.DKIM{Domain: "linkagogo.test", Selector: "w1", Key: k}, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

// TestWeeklyEndToEndMailpit: every selected member gets exactly one message through the
// real mailpit, with its own bookmarks in the zip, the required headers and a DKIM
// signature go-msgauth accepts; a rerun sends nothing.
func TestWeeklyEndToEndMailpit(t *testing.T) {
	t.Parallel()
	smtpAddr, api := testenv.Mailpit(t)
	tr, err := mailer.Open("smtp://"+smtpAddr+"?tls=none", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	gen := bookmarkgen.DefaultOptions()
	gen.Members, gen.LinksPerMember, gen.PremiumPercent, gen.OptInPercent = 40, 30, 70, 80
	s := setup(t, gen, true, tr)
	key, txt := dkimKey(t)
	s.cfg.Composer.DKIM = key

	er, sum := s.run(t, 0)
	t.Logf("enqueue %+v summary %+v", er, sum)
	if er.Selected != len(s.selected) || er.Enqueued != len(s.selected) || sum.SentNow+sum.Failed != len(s.selected) {
		t.Fatalf("enqueue %+v, summary %+v; %d selected", er, sum, len(s.selected))
	}
	failed := map[int64]bool{}
	for id, f := range s.failures(t) {
		t.Logf("failed: member %d <%s>: %s", id, f.Recipient, f.Reply)
		failed[id] = true
	}
	if len(failed) != 0 {
		t.Fatalf("%d members failed against mailpit", len(failed))
	}
	msgs := smtptest.MailpitMessages(t, api, "@"+s.domain)
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.MessageID)
	}
	s.checkExactlyOnce(t, ids, failed)

	// Content of every message: headers, DKIM, the member's own files in the zip.
	src, err := s.cfg.Source.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Release()
	want := map[int64]*pgsource.Rows{}
	if _, err := pgsource.Read(context.Background(), src.Conn(), pgsource.Options{}, func(r *pgsource.Rows) error {
		want[r.Member.ID] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		id := s.memberOf(t, m.MessageID)
		raw := smtptest.MailpitRaw(t, api, m.ID)
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{txt}, nil }})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("member %d: DKIM: %v %v", id, err, vs)
		}
		p, err := smtptest.Parse(raw)
		if err != nil {
			t.Fatalf("member %d: %v", id, err)
		}
		for _, h := range []string{"Date", "List-Unsubscribe", "List-Unsubscribe-Post", "Auto-Submitted"} {
			if p.Header.Get(h) == "" {
				t.Fatalf("member %d: no %s header", id, h)
			}
		}
		if !strings.Contains(p.Text, "Stop these emails") || !strings.Contains(p.HTML, "Stop these emails") {
			t.Fatalf("member %d: no visible unsubscribe link", id)
		}
		r := want[id]
		tree, _ := export.BuildTree(r.Member, r.Folders, r.Links)
		var wantHTML, wantXBEL bytes.Buffer
		export.WriteHTML(&wantHTML, tree)
		export.WriteXBEL(&wantXBEL, tree)
		z := p.Attachments[mailer.AttachmentName(period)]
		if p.Types[mailer.AttachmentName(period)] != "application/zip" {
			t.Fatalf("member %d: attachment types %v", id, p.Types)
		}
		files := unzip(t, z)
		if !bytes.Equal(files[export.FileName(fixedNow, "html")], wantHTML.Bytes()) ||
			!bytes.Equal(files[export.FileName(fixedNow, "xbel")], wantXBEL.Bytes()) {
			t.Fatalf("member %d: the zip does not hold the member's HTML and XBEL (files %d)", id, len(files))
		}
		if !strings.Contains(p.Header.Get("Subject"), fmt.Sprintf("%d link", tree.Links)) && tree.Links < 1000 {
			t.Fatalf("member %d: subject %q lacks the link count %d", id, p.Header.Get("Subject"), tree.Links)
		}
	}

	// A rerun of the period mails nobody.
	er2, sum2 := s.run(t, 0)
	if er2.AlreadySent != len(s.selected) || er2.Enqueued != 0 || sum2.SentNow != 0 {
		t.Fatalf("rerun: enqueue %+v summary %+v", er2, sum2)
	}
	if n := len(smtptest.MailpitMessages(t, api, "@"+s.domain)); n != len(msgs) {
		t.Fatalf("rerun sent %d more messages", n-len(msgs))
	}
}

func unzip(t testing.TB, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("unzip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestWeeklyFaults runs a period against a server that injects faults: 421 after 3
// messages on each connection, 451 twice for some recipients, 550 for one, a
// connection dropped mid-DATA and a stall after DATA for others. Afterwards every
// member but the 550 one has exactly one message, the 550 one is listed as failed, and
// the retried ones are counted.
func TestWeeklyFaults(t *testing.T) {
	t.Parallel()
	gen := bookmarkgen.DefaultOptions()
	gen.Members, gen.LinksPerMember, gen.PremiumPercent, gen.OptInPercent, gen.Hostile = 60, 10, 100, 100, false
	var mu sync.Mutex
	var greylist, reject, drop, stall string
	srv := smtptest.Start(t, smtptest.Hooks{
		Mail: func(perConn int) (smtptest.Action, *smtp.SMTPError) {
			if perConn >= 3 {
				return smtptest.Reply, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "too many messages on this connection"}
			}
			return smtptest.Accept, nil
		},
		Rcpt: func(rcpt string, seen int) (smtptest.Action, *smtp.SMTPError) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case rcpt == reject:
				return smtptest.Reply, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			case strings.Contains(greylist, "|"+rcpt+"|") && seen < 2:
				return smtptest.Reply, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try later"}
			}
			return smtptest.Accept, nil
		},
		Data: func(m smtptest.Message, offered int) (smtptest.Action, *smtp.SMTPError) {
			mu.Lock()
			defer mu.Unlock()
			if offered == 0 && m.To[0] == drop {
				return smtptest.Drop, nil
			}
			if offered == 0 && m.To[0] == stall {
				return smtptest.Stall, nil
			}
			return smtptest.Accept, nil
		},
	})
	tr, err := mailer.Open(srv.URL()+"&timeout=1s", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	s := setup(t, gen, false, tr)
	ids := s.memberIDs(t, 10)
	mu.Lock()
	greylist = "|" + s.selected[ids[0]] + "|" + s.selected[ids[1]] + "|" + s.selected[ids[2]] + "|"
	reject, drop, stall = s.selected[ids[3]], s.selected[ids[4]], s.selected[ids[5]]
	mu.Unlock()

	er, sum := s.run(t, 0)
	t.Logf("enqueue %+v summary %+v, %d connections", er, sum, srv.Connections())
	var got []string
	for _, m := range srv.Messages() {
		got = append(got, m.MessageID)
	}
	s.checkExactlyOnce(t, got, map[int64]bool{ids[3]: true})
	fails := s.failures(t)
	if f := fails[ids[3]]; len(fails) != 1 || !strings.HasPrefix(f.Reply, "550") || f.Recipient != reject {
		t.Fatalf("failures %+v, want member %d <%s> with 550", fails, ids[3], reject)
	}
	if sum.SentNow != len(ids)-1 || sum.Failed != 1 || sum.Retried < 5 {
		t.Fatalf("summary %+v", sum)
	}
	var attempts int
	if err := s.cfg.State.QueryRow(context.Background(), `SELECT attempts FROM linkbackup_mail.weekly_ledger WHERE period = $1 AND member_id = $2`, period, ids[0]).Scan(&attempts); err != nil || attempts < 3 {
		t.Fatalf("greylisted member: %d attempts (%v), want at least 3", attempts, err)
	}

	// Rerun: the sent are skipped, the 550 one is tried again (and fails again).
	er2, sum2 := s.run(t, 0)
	if er2.AlreadySent != len(ids)-1 || er2.Enqueued != 1 || sum2.SentNow != 0 || sum2.Failed != 1 {
		t.Fatalf("rerun: enqueue %+v summary %+v", er2, sum2)
	}
	if n := len(srv.Messages()); n != len(ids)-1 {
		t.Fatalf("rerun delivered %d messages in total, want %d", n, len(ids)-1)
	}
}

// TestWeeklyLargeZipLink: above MaxAttachment the zip goes to the store and the message
// carries a link to it; a member unselected before their job runs is skipped.
func TestWeeklyLargeZipLink(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Hooks{})
	tr, _ := mailer.Open(srv.URL(), "", 1)
	gen := bookmarkgen.DefaultOptions()
	gen.Members, gen.LinksPerMember, gen.PremiumPercent, gen.OptInPercent, gen.Hostile = 6, 40, 100, 100, false
	s := setup(t, gen, false, tr)
	dir := t.TempDir()
	st, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.Linker, err = NewLinker(st, 48*time.Hour, "https://downloads.linkagogo.test/")
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.MaxAttachment = 1000 // every zip is larger
	er, sum := s.run(t, 0)
	if sum.SentNow != er.Selected {
		t.Fatalf("enqueue %+v summary %+v", er, sum)
	}
	for _, m := range srv.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		id := s.memberOf(t, m.MessageID)
		key := DownloadKey(s.cfg.Composer.Unsubscribe.Secret, id, period)
		if len(p.Attachments) != 0 || !strings.Contains(p.Text, "https://downloads.linkagogo.test/"+key) {
			t.Fatalf("member %d: attachments %d, text without the link:\n%s", id, len(p.Attachments), p.Text)
		}
		b, err := os.ReadFile(dir + "/" + key)
		if err != nil {
			t.Fatal(err)
		}
		if files := unzip(t, b); len(files) != 2 {
			t.Fatalf("stored zip holds %d files", len(files))
		}
	}
}

// TestWeeklyRateLimit: Rate spaces the sends of a process.
func TestWeeklyRateLimit(t *testing.T) {
	t.Parallel()
	s, _ := rateSetup(t, 12)
	s.cfg.Rate, s.cfg.RatePerProcess = 20, true
	start := time.Now()
	_, sum := s.run(t, 0)
	if sum.SentNow != 12 {
		t.Fatalf("summary %+v", sum)
	}
	// 12 sends 50 ms apart: 550 ms from the first to the last (a little less when a
	// slot is taken late and the next one is measured from it).
	if d := s.sentSpread(t); d < 450*time.Millisecond {
		t.Fatalf("12 messages at 20/s spread over %s, want about 550ms (run took %s)", d, time.Since(start))
	}
}

// rateSetup is members small members, all selected, mailed to an in-process server.
func rateSetup(t *testing.T, members int) (*testSetup, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t, smtptest.Hooks{})
	tr, err := mailer.Open(srv.URL(), "", 2)
	if err != nil {
		t.Fatal(err)
	}
	gen := bookmarkgen.DefaultOptions()
	gen.Members, gen.LinksPerMember, gen.PremiumPercent, gen.OptInPercent, gen.DeletedPercent, gen.Hostile = members, 5, 100, 100, 0, false
	return setup(t, gen, false, tr), srv
}

// sentSpread is the time from the first to the last "sent" mark of the period.
func (s *testSetup) sentSpread(t testing.TB) time.Duration {
	t.Helper()
	var first, last time.Time
	if err := s.cfg.State.QueryRow(context.Background(), `SELECT min(sent_at), max(sent_at) FROM linkbackup_mail.weekly_ledger
WHERE period = $1`, period).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	return last.Sub(first)
}

// TestWeeklyRateLimitShared: two worker processes (two River clients) with the
// default shared limit of 20 messages per second send 40 messages in no less than
// the ~2 s that 20/s allows in all, not the ~1 s two per-process limits would allow.
func TestWeeklyRateLimitShared(t *testing.T) {
	t.Parallel()
	s, srv := rateSetup(t, 40)
	s.cfg.Rate = 20
	other := *s.cfg // a second process: its own client and limiter, the same databases
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var clients []*Client
	for _, cfg := range []*Config{s.cfg, &other} {
		c, err := NewClient(cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(context.Background())
		clients = append(clients, c)
	}
	start := time.Now()
	if _, err := Enqueue(ctx, s.cfg, clients[0], EnqueueOptions{Period: period}); err != nil {
		t.Fatal(err)
	}
	if err := Wait(ctx, s.cfg, period, 0, 50*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	var workers int
	if err := s.cfg.State.QueryRow(ctx, `SELECT count(DISTINCT attempted_by[1]) FROM linkbackup_mail.river_job WHERE state = 'completed'`).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if workers != 2 {
		t.Fatalf("%d clients worked the jobs, want both", workers)
	}
	if n := len(srv.Messages()); n != len(s.selected) {
		t.Fatalf("%d messages for %d members", n, len(s.selected))
	}
	// 40 sends 50 ms apart in all: 1.95 s; two separate 20/s limits would take ~1 s.
	if d := s.sentSpread(t); d < 1700*time.Millisecond {
		t.Fatalf("%d messages at 20/s shared by two processes spread over %s, want about 1.95s (run took %s)", len(s.selected), d, time.Since(start))
	}
}

// TestStateConnectionLostDuringSend kills the worker's state-database connection while
// its "sent" transaction is open and the message is at the server. If the server then
// refuses the message (451), nothing was delivered and the retry delivers it once. If
// the server accepts it (250), the COMMIT cannot land: this is the documented
// at-least-once window, and the retry delivers a second copy with the same Message-ID.
// Nobody else is affected, and both rows end "sent".
func TestStateConnectionLostDuringSend(t *testing.T) {
	t.Parallel()
	gen := bookmarkgen.DefaultOptions()
	gen.Members, gen.LinksPerMember, gen.PremiumPercent, gen.OptInPercent, gen.Hostile = 12, 5, 100, 100, false
	var mu sync.Mutex
	var accepted, refused string // recipients whose first offer is hit
	var state *pgxpool.Pool
	var killed []int
	kill := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// One job at a time (Concurrency 1), but the enqueue of a later batch (BatchSize 7)
		// may hold a transaction open too: only the sender's, whose last statement is the
		// job's completion, is terminated.
		var n int
		if err := state.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()
  AND query LIKE '%finalized_at%'`).Scan(&n); err != nil {
			t.Errorf("terminating the sender's connection: %v", err)
		}
		killed = append(killed, n)
	}
	srv := smtptest.Start(t, smtptest.Hooks{
		Data: func(m smtptest.Message, offered int) (smtptest.Action, *smtp.SMTPError) {
			mu.Lock()
			defer mu.Unlock()
			if offered > 0 {
				return smtptest.Accept, nil
			}
			switch m.To[0] {
			case accepted:
				kill()
				return smtptest.Accept, nil
			case refused:
				kill()
				return smtptest.Reply, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
			}
			return smtptest.Accept, nil
		},
	})
	tr, err := mailer.Open(srv.URL(), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	s := setup(t, gen, false, tr)
	s.cfg.Concurrency = 1
	ids := s.memberIDs(t, 4)
	mu.Lock()
	state, accepted, refused = s.cfg.State, s.selected[ids[0]], s.selected[ids[1]]
	mu.Unlock()

	_, sum := s.run(t, 0)
	mu.Lock()
	if len(killed) != 2 || killed[0] != 1 || killed[1] != 1 {
		t.Fatalf("terminated %v connections at the two hits, want one each", killed)
	}
	mu.Unlock()
	count := map[int64]int{}
	byID := map[string]int{}
	for _, m := range srv.Messages() {
		count[s.memberOf(t, m.MessageID)]++
		byID[m.MessageID]++
	}
	for _, id := range ids {
		want := 1
		if id == ids[0] {
			want = 2 // the window: accepted, then the COMMIT was lost
		}
		if count[id] != want {
			t.Errorf("member %d got %d messages, want %d", id, count[id], want)
		}
	}
	if len(byID) != len(ids) {
		t.Errorf("%d distinct Message-IDs for %d members: a retry must reuse its Message-ID", len(byID), len(ids))
	}
	for _, id := range ids[:2] {
		var st string
		var attempts int
		if err := s.cfg.State.QueryRow(context.Background(), `SELECT state, attempts FROM linkbackup_mail.weekly_ledger
WHERE period = $1 AND member_id = $2`, period, id).Scan(&st, &attempts); err != nil || st != "sent" || attempts != 2 {
			t.Errorf("member %d: ledger %s after %d attempts (%v), want sent after 2", id, st, attempts, err)
		}
	}
	if sum.SentNow != len(ids) || sum.Failed != 0 {
		t.Fatalf("summary %+v", sum)
	}
}
