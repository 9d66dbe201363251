package statusview

import (
	"fmt"
	"io"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

// Mail is the weekly email's part of a status report: the ledger's counts of the
// current and the last period (the command assembles it; backup knows no mail).
type Mail struct {
	Current MailPeriod `json:"current"`
	Last    MailPeriod `json:"last"`
	// Due is when the current period's run should have finished (nil: no deadline);
	// DueText says it as configured ("Monday 12:00").
	Due     *time.Time `json:"due,omitempty"`
	DueText string     `json:"-"`
	// FailedCritPercent is the CRITICAL threshold of permanent failures.
	FailedCritPercent float64 `json:"failed_crit_percent"`
	// Error: the state database could not be read (the counts are unknown).
	Error string `json:"error,omitempty"`
}

// MailPeriod is one period's ledger counts (the fields of weekly.PeriodStatus).
type MailPeriod struct {
	Period      string     `json:"period"`
	Selected    int        `json:"selected"`
	Sent        int        `json:"sent"`
	Pending     int        `json:"pending"`
	Failed      int        `json:"failed_permanently"`
	Suppressed  int        `json:"suppressed"`
	Skipped     int        `json:"skipped"`
	LastMessage *time.Time `json:"last_message,omitempty"`
}

// WriteTextMail is WriteText with the weekly email's lines (m may be nil).
func WriteTextMail(w io.Writer, r *backup.StatusReport, m *Mail) error { return writeText(w, r, m) }

// mailLines adds the weekly email's lines of the text output.
func mailLines(line func(head, format string, args ...any), m *Mail) {
	if m == nil {
		return
	}
	if m.Error != "" {
		line("mail", "unknown: %s", m.Error)
		return
	}
	for _, p := range []struct {
		what string
		p    MailPeriod
	}{{"current", m.Current}, {"last", m.Last}} {
		line("mail", "%s (%s): %s", p.p.Period, p.what, mailPeriodText(p.p))
	}
	if m.Due != nil {
		line("", "the current week's run is due by %s (%s UTC)", m.Due.UTC().Format("2006-01-02 15:04 UTC"), m.DueText)
	}
}

func mailPeriodText(p MailPeriod) string {
	if p.Selected == 0 {
		return "not started"
	}
	s := fmt.Sprintf("selected %d, sent %d, pending %d, failed permanently %d, suppressed %d, skipped %d",
		p.Selected, p.Sent, p.Pending, p.Failed, p.Suppressed, p.Skipped)
	if p.LastMessage != nil {
		s += "; last message " + p.LastMessage.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if p.Pending == 0 {
		s += "; finished"
	}
	return s
}

// mailGauges adds the weekly email's gauges: members per ledger state and the last
// message's time, per period (current, last).
func mailGauges(g *gauges_, m *Mail) {
	if m == nil || m.Error != "" {
		return
	}
	for _, p := range []struct {
		which string
		p     MailPeriod
	}{{"current", m.Current}, {"last", m.Last}} {
		for _, st := range []struct {
			state string
			n     int
		}{{"selected", p.p.Selected}, {"sent", p.p.Sent}, {"pending", p.p.Pending}, {"failed", p.p.Failed},
			{"suppressed", p.p.Suppressed}, {"skipped", p.p.Skipped}} {
			g.add("linkbackup_mail_members", "Members of the weekly email per ledger state (selected: every member enqueued for the period).",
				[]string{"period", p.which, "week", p.p.Period, "state", st.state}, int64(st.n))
		}
		if p.p.LastMessage != nil {
			g.add("linkbackup_mail_last_message_timestamp_seconds", "When the period's last weekly email was accepted by the mail server (Unix time).",
				[]string{"period", p.which, "week", p.p.Period}, p.p.LastMessage.Unix())
		}
	}
}
