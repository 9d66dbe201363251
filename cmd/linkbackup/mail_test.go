package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/export/pgsource"
	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
	"github.com/linkagogo/linkbackup/mailer/smtptest"
)

const testPeriod = "2026-W48"

// exportCmd is the command that takes --mail.
var exportCmd = "export"

// mailTest is a generated source, an empty state database and a config file.
type mailTest struct {
	source, state string
	config        string
	domain        string
	selected      map[int64]string
}

// newMailTest generates members (all premium and opted in, not deleted unless the
// generator deletes some) and writes a config sending to mailerURL.
func newMailTest(t *testing.T, members, links int, mailerURL string) *mailTest {
	t.Helper()
	ctx := context.Background()
	primary := testenv.PrimaryDSN(t)
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember, o.PremiumPercent, o.OptInPercent, o.Hostile = members, links, 100, 100, false
	source, _ := testenv.BookmarkDB(t, o)
	m := &mailTest{source: source, state: testenv.NewDatabase(t, primary),
		domain: testenv.UniqueName("c") + ".linkagogo.test", selected: map[int64]string{}}
	c, err := pgx.Connect(ctx, m.source)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, pgsource.DefaultMemberQuery)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var email, name string
		rows.Scan(&id, &email, &name)
		m.selected[id] = email
	}
	rows.Close()
	m.config = filepath.Join(t.TempDir(), "linkbackup.yaml")
	cfg := fmt.Sprintf(`source: %q
mail:
  state: %q
  mailer: %q
  from: "LinkaGoGo <backup@linkagogo.test>"
  message_id_domain: %q
  unsubscribe_url: "https://linkagogo.test/unsubscribe?t={token}"
  unsubscribe_secret: "cli-test-secret-0123456789abcdef"
  rate: 0
  concurrency: 4
  connections: 2
  retry_base: 100ms
  retry_max: 1s
  job_timeout: 5s
  rescue_after: 6s
  smtp_timeout: 2s
  shutdown_timeout: 10s
`, m.source, m.state, mailerURL, m.domain)
	if err := os.WriteFile(m.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

// memberOf parses a Message-ID of this test.
func (m *mailTest) memberOf(t *testing.T, id string) int64 {
	t.Helper()
	var member int64
	var rest string
	if _, err := fmt.Sscanf(strings.Trim(id, "<>"), "weekly-backup.%d.%s", &member, &rest); err != nil || rest != testPeriod+"@"+m.domain {
		t.Fatalf("Message-ID %q is not this test's", id)
	}
	return member
}

// exactlyOnce checks that every selected member but failed got exactly one message and
// nobody else any.
func (m *mailTest) exactlyOnce(t *testing.T, messageIDs []string, failed ...int64) {
	t.Helper()
	n := map[int64]int{}
	for _, id := range messageIDs {
		member := m.memberOf(t, id)
		if _, ok := m.selected[member]; !ok {
			t.Fatalf("member %d is not selected but was mailed", member)
		}
		n[member]++
	}
	for id := range m.selected {
		want := 1
		for _, f := range failed {
			if f == id {
				want = 0
			}
		}
		if n[id] != want {
			t.Fatalf("member %d got %d messages, want %d", id, n[id], want)
		}
	}
}

// ledger returns state -> count and the distinct workers of sent rows.
func (m *mailTest) ledger(t *testing.T) (states map[string]int, maxAttempts int, workers map[string]int) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, m.state)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	states, workers = map[string]int{}, map[string]int{}
	rows, err := c.Query(ctx, `SELECT state, attempts, coalesce(worker, '') FROM linkbackup_mail.weekly_ledger WHERE period = $1`, testPeriod)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s, w string
		var a int
		rows.Scan(&s, &a, &w)
		states[s]++
		maxAttempts = max(maxAttempts, a)
		if s == "sent" {
			workers[w]++
		}
	}
	return states, maxAttempts, workers
}

// TestMailCLIMailpit: export --mail through the real mailpit, then a rerun, a dry run
// and migrate, all in-process.
func TestMailCLIMailpit(t *testing.T) {
	smtpAddr, api := testenv.Mailpit(t)
	m := newMailTest(t, 30, 20, "smtp://"+smtpAddr+"?tls=none")
	if out, errs, code := run(t, "migrate", "--config", m.config); code != 0 || !strings.Contains(out, "migrated") {
		t.Fatalf("migrate: exit %d %s %s", code, out, errs)
	}
	if out, _, code := run(t, "migrate", "--config", m.config); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: exit %d %s", code, out)
	}
	out, errs, code := run(t, exportCmd, "--mail", "--period", testPeriod, "--config", m.config)
	if code != 0 {
		t.Fatalf("export --mail: exit %d\n%s\n%s", code, out, errs)
	}
	n := len(m.selected)
	want := fmt.Sprintf("mail %s: selected %d, sent %d, already sent 0, retried 0, skipped 0, failed permanently 0", testPeriod, n, n)
	if !strings.Contains(out, want) {
		t.Fatalf("summary %q, want %q", out, want)
	}
	var ids []string
	for _, msg := range smtptest.MailpitMessages(t, api, "@"+m.domain) {
		ids = append(ids, msg.MessageID)
	}
	m.exactlyOnce(t, ids)

	out, _, code = run(t, exportCmd, "--mail", "--period", testPeriod, "--config", m.config)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("sent 0, already sent %d", n)) {
		t.Fatalf("rerun: exit %d: %s", code, out)
	}
	out, _, code = run(t, exportCmd, "--mail", "--dry-run", "--period", testPeriod, "--config", m.config)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("selected %d, already sent %d, would send 0", n, n)) {
		t.Fatalf("dry run: exit %d: %s", code, out)
	}
	if got := len(smtptest.MailpitMessages(t, api, "@"+m.domain)); got != n {
		t.Fatalf("after rerun and dry run mailpit holds %d messages, want %d", got, n)
	}
	if _, errs, code := run(t, exportCmd, "--mail", "--period", "2026-W99", "--config", m.config); code != exitUsage {
		t.Fatalf("bad period: exit %d %s", code, errs)
	}
}

// TestMailCLIPermanentFailureExit3: a 550 for one member fails that member only; the
// command lists it and exits 3.
func TestMailCLIPermanentFailureExit3(t *testing.T) {
	var reject string
	var mu sync.Mutex
	srv := smtptest.Start(t, smtptest.Hooks{Rcpt: func(rcpt string, _ int) (smtptest.Action, *smtp.SMTPError) {
		mu.Lock()
		defer mu.Unlock()
		if rcpt == reject {
			return smtptest.Reply, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
		}
		return smtptest.Accept, nil
	}})
	m := newMailTest(t, 12, 5, srv.URL())
	var bad int64
	for id, email := range m.selected {
		bad, reject = id, email
		break
	}
	out, errs, code := run(t, exportCmd, "--mail", "--period", testPeriod, "--config", m.config)
	if code != exitPartial {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, fmt.Sprintf("failed: member %d <%s> after 1 attempt(s): 550 5.1.1 mailbox unavailable", bad, reject)) ||
		!strings.Contains(out, "failed permanently 1") {
		t.Fatalf("summary does not list the failure:\n%s", out)
	}
	var ids []string
	for _, msg := range srv.Messages() {
		ids = append(ids, msg.MessageID)
	}
	m.exactlyOnce(t, ids, bad)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds linkbackup once per test process.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "linkbackup-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "linkbackup")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// startWorker runs `linkbackup worker` as a child process.
func startWorker(t *testing.T, config, logFile string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "worker", "--config", config, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s:\n%s", logFile, b)
		}
	})
	return cmd
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkerKilledMidRunThenRerun: a worker process is SIGKILLed while messages are
// in flight (the server holds them without answering, so none is between the 250
// and the commit); rerunning `export --mail` with the default mail.rescue_after
// finishes the period within a minute: every member has exactly one message.
func TestWorkerKilledMidRunThenRerun(t *testing.T) {
	const members, before = 60, 20
	var mu sync.Mutex
	accepted := 0
	gate := make(chan struct{})
	srv := smtptest.Start(t, smtptest.Hooks{Data: func(smtptest.Message, int) (smtptest.Action, *smtp.SMTPError) {
		mu.Lock()
		stall := accepted >= before
		if !stall {
			accepted++
		}
		mu.Unlock()
		if stall {
			select {
			case <-gate:
				return smtptest.Reply, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again"}
			case <-time.After(time.Minute):
			}
		}
		return smtptest.Accept, nil
	}})
	m := newMailTest(t, members, 10, srv.URL()+"&timeout=60s")
	m.defaultRescue(t)
	if out, errs, code := run(t, exportCmd, "--mail", "--enqueue-only", "--period", testPeriod, "--config", m.config); code != 0 {
		t.Fatalf("enqueue: exit %d %s %s", code, out, errs)
	}
	w := startWorker(t, m.config, filepath.Join(t.TempDir(), "worker.log"))
	waitFor(t, "20 delivered messages", time.Minute, func() bool { return len(srv.Messages()) >= before })
	time.Sleep(500 * time.Millisecond) // the worker's other sends are now stalled before their 250
	if err := w.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w.Wait()
	states, _, _ := m.ledger(t)
	t.Logf("after SIGKILL: %d messages delivered, ledger %v", len(srv.Messages()), states)
	if states["sending"] == 0 {
		t.Fatal("no job was in flight when the worker was killed")
	}
	close(gate)
	mu.Lock()
	accepted = -1 << 30 // accept everything from now on
	mu.Unlock()

	start := time.Now()
	out, errs, code := run(t, exportCmd, "--mail", "--period", testPeriod, "--config", m.config)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errs)
	}
	took := time.Since(start)
	t.Logf("rerun took %s (the killed worker's liveness lock is free: its jobs are handed back at once): %s", took.Round(time.Millisecond), strings.TrimSpace(out))
	if took > time.Minute {
		t.Fatalf("rerun took %s with the default mail.rescue_after, want under a minute", took)
	}
	var ids []string
	for _, msg := range srv.Messages() {
		ids = append(ids, msg.MessageID)
	}
	m.exactlyOnce(t, ids)
	if states, _, _ := m.ledger(t); states["sent"] != len(m.selected) {
		t.Fatalf("ledger %v", states)
	}
}

// TestTwoWorkersShareTheWork: two worker processes work one period; one gets SIGTERM
// half way, finishes its in-flight jobs and exits 0; the other finishes the period. No
// member is handled twice (one attempt each, one message each) and both did work.
func TestTwoWorkersShareTheWork(t *testing.T) {
	const members = 120
	srv := smtptest.Start(t, smtptest.Hooks{Data: func(smtptest.Message, int) (smtptest.Action, *smtp.SMTPError) {
		time.Sleep(15 * time.Millisecond) // a slower server, so both workers get a share
		return smtptest.Accept, nil
	}})
	m := newMailTest(t, members, 10, srv.URL())
	if out, errs, code := run(t, exportCmd, "--mail", "--enqueue-only", "--period", testPeriod, "--config", m.config); code != 0 {
		t.Fatalf("enqueue: exit %d %s %s", code, out, errs)
	}
	dir := t.TempDir()
	a := startWorker(t, m.config, filepath.Join(dir, "a.log"))
	b := startWorker(t, m.config, filepath.Join(dir, "b.log"))
	waitFor(t, "a third of the messages", time.Minute, func() bool { return len(srv.Messages()) >= len(m.selected)/3 })
	start := time.Now()
	if err := a.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Fatalf("worker a after SIGTERM: %v (want exit 0)", err)
	}
	t.Logf("worker a stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	waitFor(t, "every message", time.Minute, func() bool {
		states, _, _ := m.ledger(t)
		return states["sent"] == len(m.selected)
	})
	b.Process.Signal(syscall.SIGTERM)
	if err := b.Wait(); err != nil {
		t.Fatalf("worker b after SIGTERM: %v", err)
	}
	var ids []string
	for _, msg := range srv.Messages() {
		ids = append(ids, msg.MessageID)
	}
	m.exactlyOnce(t, ids)
	states, maxAttempts, workers := m.ledger(t)
	t.Logf("ledger %v, sent per worker %v", states, workers)
	if maxAttempts != 1 {
		t.Fatalf("some member took %d attempts: handled twice", maxAttempts)
	}
	if len(workers) != 2 {
		t.Fatalf("sent by %d workers, want both: %v", len(workers), workers)
	}
}
