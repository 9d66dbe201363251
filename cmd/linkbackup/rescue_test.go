package main

import (
	"context"
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

	"github.com/linkagogo/linkbackup/internal/testenv"
	"github.com/linkagogo/linkbackup/mailer/smtptest"
)

// defaultRescue drops the test's short mail.rescue_after: River's rescuer then waits
// the default 15 minutes, so only the liveness locks can finish a run in time.
func (m *mailTest) defaultRescue(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(m.config)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "  rescue_after: 6s\n", "", 1)
	if s == string(b) {
		t.Fatal("config has no rescue_after line to drop")
	}
	if err := os.WriteFile(m.config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sentCount is the number of "sent" ledger rows of the test period.
func (m *mailTest) sentCount(t *testing.T) int {
	t.Helper()
	states, _, _ := m.ledger(t)
	return states["sent"]
}

// attempts returns the ledger's attempts per member.
func (m *mailTest) attempts(t *testing.T) map[int64]int {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, m.state)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT member_id, attempts FROM linkbackup_mail.weekly_ledger WHERE period = $1`, testPeriod)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	return out
}

// onceBeyondWindow checks that every selected member got a message, that nobody else
// got one, and that a member mailed twice is one whose delivery was in flight when the
// process died (attempted again), at most inFlight of them: the documented window.
func (m *mailTest) onceBeyondWindow(t *testing.T, messageIDs []string, inFlight int) {
	t.Helper()
	n := map[int64]int{}
	for _, id := range messageIDs {
		member := m.memberOf(t, id)
		if _, ok := m.selected[member]; !ok {
			t.Fatalf("member %d is not selected but was mailed", member)
		}
		n[member]++
	}
	attempts := m.attempts(t)
	dups := 0
	for id := range m.selected {
		switch {
		case n[id] == 0:
			t.Fatalf("member %d got no message", id)
		case n[id] == 2 && attempts[id] >= 2:
			dups++
		case n[id] > 1:
			t.Fatalf("member %d got %d messages after %d attempts", id, n[id], attempts[id])
		}
	}
	if dups > inFlight {
		t.Fatalf("%d members mailed twice, more than the %d deliveries in flight", dups, inFlight)
	}
	t.Logf("%d messages for %d members, %d twice (accepted by the server as the process died)", len(messageIDs), len(m.selected), dups)
}

// TestExportKilledRerunRescuesAtOnce: `export --mail` through mailpit is SIGKILLed mid
// run; the rerun, with the default mail.rescue_after (15 minutes), hands the killed
// process's running jobs back at once (its liveness lock is free) and is done within a
// minute, every member mailed once (counted by Message-ID; twice only within the
// documented window).
func TestExportKilledRerunRescuesAtOnce(t *testing.T) {
	const members = 300
	smtpAddr, api := testenv.Mailpit(t)
	m := newMailTest(t, members, 5, "smtp://"+smtpAddr+"?tls=none")
	m.defaultRescue(t)
	if out, errs, code := run(t, "migrate", "--config", m.config); code != 0 {
		t.Fatalf("migrate: exit %d %s %s", code, out, errs)
	}
	log, err := os.Create(filepath.Join(t.TempDir(), "export.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(binary(t), exportCmd, "--mail", "--period", testPeriod, "--config", m.config, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "50 sent members", time.Minute, func() bool { return m.sentCount(t) >= 50 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	states, _, _ := m.ledger(t)
	t.Logf("after SIGKILL: ledger %v", states)
	if states["sent"] >= len(m.selected) {
		t.Fatal("the run finished before the kill")
	}

	start := time.Now()
	out, errs, code := run(t, exportCmd, "--mail", "--period", testPeriod, "--config", m.config)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("rerun took %s: %s", took.Round(time.Millisecond), strings.TrimSpace(out))
	if took > time.Minute {
		t.Fatalf("rerun took %s, want under a minute", took)
	}
	if states, _, _ := m.ledger(t); states["sent"] != len(m.selected) {
		t.Fatalf("ledger %v", states)
	}
	var ids []string
	for _, msg := range smtptest.MailpitMessages(t, api, "@"+m.domain) {
		ids = append(ids, msg.MessageID)
	}
	m.onceBeyondWindow(t, ids, 4) // mail.concurrency of the test config
}

// TestWorkerKilledOtherWorkerRescues: two workers run a period; the server holds
// every message unanswered for a moment (so none is between the 250 and the commit)
// and one worker is SIGKILLed meanwhile; the other, with the default
// mail.rescue_after (15 minutes), takes the killed worker's running jobs over within
// seconds and finishes the period: every member exactly once.
func TestWorkerKilledOtherWorkerRescues(t *testing.T) {
	const members = 80
	var mu sync.Mutex
	hold := false
	gate := make(chan struct{})
	srv := smtptest.Start(t, smtptest.Hooks{Data: func(smtptest.Message, int) (smtptest.Action, *smtp.SMTPError) {
		mu.Lock()
		stall := hold
		mu.Unlock()
		if stall {
			select {
			case <-gate:
				return smtptest.Reply, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again"}
			case <-time.After(time.Minute):
			}
		}
		time.Sleep(10 * time.Millisecond) // a slower server, so both workers get a share
		return smtptest.Accept, nil
	}})
	m := newMailTest(t, members, 5, srv.URL()+"&timeout=60s")
	m.defaultRescue(t)
	if out, errs, code := run(t, exportCmd, "--mail", "--enqueue-only", "--period", testPeriod, "--config", m.config); code != 0 {
		t.Fatalf("enqueue: exit %d %s %s", code, out, errs)
	}
	dir := t.TempDir()
	a := startWorker(t, m.config, filepath.Join(dir, "a.log"))
	b := startWorker(t, m.config, filepath.Join(dir, "b.log"))
	waitFor(t, "10 sent", time.Minute, func() bool { return m.sentCount(t) >= 10 })
	mu.Lock()
	hold = true
	mu.Unlock()
	waitFor(t, "deliveries of both workers held by the server", 30*time.Second, func() bool {
		return m.sending(t) >= 6
	})
	time.Sleep(300 * time.Millisecond)
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	t.Logf("worker a killed with %d deliveries in flight", m.sending(t))
	mu.Lock()
	hold = false
	mu.Unlock()
	close(gate) // the held deliveries get a 451: worker b retries its own
	start := time.Now()
	waitFor(t, "every member sent", time.Minute, func() bool { return m.sentCount(t) == len(m.selected) })
	t.Logf("worker b finished the period %s after the kill", time.Since(start).Round(time.Millisecond))
	b.Process.Signal(syscall.SIGTERM)
	if err := b.Wait(); err != nil {
		t.Fatalf("worker b after SIGTERM: %v", err)
	}
	var ids []string
	for _, msg := range srv.Messages() {
		ids = append(ids, msg.MessageID)
	}
	m.exactlyOnce(t, ids)
}

// sending is the number of "sending" ledger rows of the test period.
func (m *mailTest) sending(t *testing.T) int {
	t.Helper()
	states, _, _ := m.ledger(t)
	return states["sending"]
}
