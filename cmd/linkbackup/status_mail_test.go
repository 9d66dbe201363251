package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/statusview"
	"github.com/linkagogo/linkbackup/mailer"
	"github.com/linkagogo/linkbackup/mailer/smtptest"
)

const mailGoldenDir = "../../testdata/status-mail"

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestParseMailDue(t *testing.T) {
	for s, want := range map[string]string{
		"Monday 12:00": "2026-11-30T12:00:00Z", "tue 6:30": "2026-12-01T06:30:00Z", "Sunday 23:59": "2026-12-06T23:59:00Z",
	} {
		d, err := parseMailDue(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		got, err := d.in("2026-W49")
		if err != nil || got.Format(time.RFC3339) != want {
			t.Fatalf("%q in 2026-W49 = %v (%v), want %s", s, got, err, want)
		}
	}
	for _, s := range []string{"Monday", "Funday 12:00", "Monday 24:00", "Monday noon"} {
		if _, err := parseMailDue(s); err == nil {
			t.Fatalf("%q parsed", s)
		}
	}
	if d, err := parseMailDue(""); err != nil || d.set {
		t.Fatalf("empty: %v %v", d, err)
	}
}

// mailCases are the weekly email's findings in 2026-W49 (Monday 2026-11-30), judged at
// now, due Monday 12:00.
func mailCases() map[string]struct {
	now  time.Time
	mail statusview.Mail
	want backup.Level
} {
	wed := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	mon := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	sent := time.Date(2026, 11, 30, 6, 41, 7, 0, time.UTC)
	lastSent := time.Date(2026, 11, 23, 6, 39, 55, 0, time.UTC)
	done := statusview.MailPeriod{Period: "2026-W49", Selected: 3000, Sent: 2990, Failed: 7, Suppressed: 3, LastMessage: &sent}
	last := statusview.MailPeriod{Period: "2026-W48", Selected: 2995, Sent: 2985, Failed: 10, LastMessage: &lastSent}
	pending := done
	pending.Sent, pending.Pending = 2500, 490
	bad := done
	bad.Sent, bad.Failed = 2800, 197
	badLast := last
	badLast.Sent, badLast.Failed = 2700, 295
	return map[string]struct {
		now  time.Time
		mail statusview.Mail
		want backup.Level
	}{
		"finished":         {wed, statusview.Mail{Current: done, Last: last}, backup.LevelOK},
		"unfinished-late":  {wed, statusview.Mail{Current: pending, Last: last}, backup.LevelWarning},
		"not-started-late": {wed, statusview.Mail{Current: statusview.MailPeriod{Period: "2026-W49"}, Last: last}, backup.LevelWarning},
		"before-due":       {mon, statusview.Mail{Current: statusview.MailPeriod{Period: "2026-W49"}, Last: last}, backup.LevelOK},
		"failed-critical":  {wed, statusview.Mail{Current: bad, Last: last}, backup.LevelCritical},
		"last-failed":      {mon, statusview.Mail{Current: statusview.MailPeriod{Period: "2026-W49"}, Last: badLast}, backup.LevelCritical},
	}
}

// TestMailStatusGolden: the weekly email's lines, JSON and gauges, and the rules:
// unfinished after the deadline warns, more than 5 % failed is critical.
func TestMailStatusGolden(t *testing.T) {
	due, _ := parseMailDue("Monday 12:00")
	for name, c := range mailCases() {
		t.Run(name, func(t *testing.T) {
			m := c.mail
			m.FailedCritPercent, m.DueText = 5, "Monday 12:00"
			d, _ := due.in(m.Current.Period)
			m.Due = &d
			rep := &backup.StatusReport{State: "OK", Summary: "snapshot facts left out of this test", Checked: c.now, Problems: []backup.StatusProblem{}}
			judgeMail(&m, c.now, rep)
			if rep.Code != c.want {
				t.Fatalf("code %v, want %v: %s", rep.Code, c.want, rep.Summary)
			}
			var txt, js, prom bytes.Buffer
			if err := statusview.WriteTextMail(&txt, rep, &m); err != nil {
				t.Fatal(err)
			}
			enc := json.NewEncoder(&js)
			enc.SetIndent("", "  ")
			if err := enc.Encode(statusWithMail{rep, &m}); err != nil {
				t.Fatal(err)
			}
			if err := statusview.WritePrometheusMail(&prom, rep, &m); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(mailGoldenDir, name), map[string][]byte{"status.txt": txt.Bytes(), "status.json": js.Bytes(), "status.prom": prom.Bytes()})
		})
	}
}

// golden compares files in dir with got, or writes them with -update.
func golden(t *testing.T, dir string, got map[string][]byte) {
	t.Helper()
	for file, b := range got {
		path := filepath.Join(dir, file)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run the test with -update to create it)", err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("%s differs from the golden file (rerun with -update after checking):\n--- got\n%s\n--- want\n%s", path, b, want)
		}
	}
}

// TestStatusReadsTheLedger: after a run in which one member of ten failed permanently
// (10 % > status.mail_failed_crit's 5 %), status reads the ledger: counts in text,
// JSON and the textfile, and a CRITICAL mail problem.
func TestStatusReadsTheLedger(t *testing.T) {
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
	m := newMailTest(t, 10, 3, srv.URL())
	for _, email := range m.selected {
		reject = email
		break
	}
	prom := filepath.Join(t.TempDir(), "linkbackup.prom")
	writeFile(t, m.config, readFile(t, m.config)+fmt.Sprintf("status:\n  mail_due: \"\"\n  prometheus_file: %q\n", prom))
	period := mailer.PeriodOf(time.Now())
	if out, errs, code := run(t, exportCmd, "--mail", "--period", period, "--config", m.config); code != exitPartial {
		t.Fatalf("export --mail: exit %d %s %s", code, out, errs)
	}
	store := "file://" + t.TempDir()
	out, errs, code := run(t, "status", "--json", "--store", store, "--config", m.config)
	if code != int(backup.LevelCritical) {
		t.Fatalf("status: exit %d %s %s", code, out, errs)
	}
	var got struct {
		Problems []backup.StatusProblem
		Mail     *statusview.Mail
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Mail == nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	n := len(m.selected)
	if c := got.Mail.Current; c.Period != period || c.Selected != n || c.Sent != n-1 || c.Failed != 1 || c.Pending != 0 || c.LastMessage == nil {
		t.Fatalf("current period %+v, want %d selected, %d sent, 1 failed", c, n, n-1)
	}
	found := false
	for _, p := range got.Problems {
		found = found || p.Component == "mail" && p.State == "CRITICAL" && strings.Contains(p.Message, "1 of "+strconv.Itoa(n)+" selected members")
	}
	if !found {
		t.Fatalf("no CRITICAL mail problem: %+v", got.Problems)
	}
	text, _, _ := run(t, "status", "--store", store, "--config", m.config)
	if want := fmt.Sprintf("mail       %s (current): selected %d, sent %d, pending 0, failed permanently 1", period, n, n-1); !strings.Contains(text, want) {
		t.Fatalf("status text lacks %q:\n%s", want, text)
	}
	textfile := readFile(t, prom)
	for state, want := range map[string]float64{"selected": float64(n), "sent": float64(n - 1), "failed": 1, "pending": 0} {
		got, ok := promGauge(t, textfile, "linkbackup_mail_members", map[string]string{"period": "current", "week": period, "state": state})
		if !ok || got != want {
			t.Fatalf("textfile: linkbackup_mail_members %s = %v (%v), want %v\n%s", state, got, ok, want, textfile)
		}
	}
	if code, ok := promGauge(t, textfile, "linkbackup_status_code", nil); !ok || code != 2 {
		t.Fatalf("textfile: linkbackup_status_code %v %v", code, ok)
	}
}
