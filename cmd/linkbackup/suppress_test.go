package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/mailer/smtptest"
)

// TestMailSuppressedAfterBounces: an address rejected with 550 in two consecutive
// periods (mail.suppress_after's default) is not tried in the third: the member is
// listed as "suppressed: address bounced", the run exits 0, the server never sees the
// address; a member whose 4xx retries ran out is not suppressed. Once the address
// changes, a rerun of the period mails the new one.
func TestMailSuppressedAfterBounces(t *testing.T) {
	var mu sync.Mutex
	var reject, busy string
	rcpts := map[string]int{}
	srv := smtptest.Start(t, smtptest.Hooks{Rcpt: func(rcpt string, _ int) (smtptest.Action, *smtp.SMTPError) {
		mu.Lock()
		defer mu.Unlock()
		rcpts[rcpt]++
		switch rcpt {
		case reject:
			return smtptest.Reply, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
		case busy:
			return smtptest.Reply, &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return smtptest.Accept, nil
	}})
	m := newMailTest(t, 10, 3, srv.URL())
	cfg := strings.Replace(readFile(t, m.config), "  rate: 0\n", "  rate: 0\n  max_attempts: 2\n", 1)
	writeFile(t, m.config, cfg)
	var bad, full int64
	for id, email := range m.selected {
		switch {
		case bad == 0:
			bad, reject = id, email
		case full == 0:
			full, busy = id, email
		}
	}
	exportPeriod := func(period string, want int) string {
		t.Helper()
		out, errs, code := run(t, exportCmd, "--mail", "--period", period, "--config", m.config)
		if code != want {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", period, code, want, out, errs)
		}
		return out
	}
	for _, p := range []string{"2026-W46", "2026-W47"} {
		out := exportPeriod(p, exitPartial)
		if !strings.Contains(out, "failed permanently 2, suppressed 0") {
			t.Fatalf("%s: %s", p, out)
		}
	}
	mu.Lock()
	seen := rcpts[reject]
	busy = "" // the full mailbox has room again
	mu.Unlock()
	out := exportPeriod(testPeriod, 0)
	line := fmt.Sprintf("  suppressed: member %d <%s>: suppressed: address bounced", bad, reject)
	if !strings.Contains(out, "failed permanently 0, suppressed 1") || !strings.Contains(out, line) {
		t.Fatalf("%s: summary does not list the suppression:\n%s", testPeriod, out)
	}
	mu.Lock()
	again := rcpts[reject] - seen
	mu.Unlock()
	if again != 0 {
		t.Fatalf("the suppressed address was offered %d more time(s)", again)
	}
	var ids []string
	for _, msg := range srv.Messages() {
		if strings.Contains(msg.MessageID, "."+testPeriod+"@") {
			ids = append(ids, msg.MessageID)
		}
	}
	m.exactlyOnce(t, ids, bad) // the member whose retries ran out is mailed

	// A new address lifts the suppression: the rerun mails it.
	ctx := context.Background()
	c, err := pgx.Connect(ctx, m.source)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `UPDATE members SET email = 'new-' || email WHERE id = $1`, bad); err != nil {
		t.Fatal(err)
	}
	out = exportPeriod(testPeriod, 0)
	if !strings.Contains(out, fmt.Sprintf("sent 1, already sent %d", len(m.selected)-1)) || !strings.Contains(out, "suppressed 0") {
		t.Fatalf("after the address change: %s", out)
	}
	if states, _, _ := m.ledger(t); states["sent"] != len(m.selected) {
		t.Fatalf("ledger %v", states)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
