package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
	"github.com/linkagogo/linkbackup/internal/statusview"
	"github.com/linkagogo/linkbackup/mailer"
	"github.com/linkagogo/linkbackup/mailer/weekly"
)

// mailDue is status.mail_due parsed: a weekday and a time of day (UTC).
type mailDue struct {
	set          bool
	day          time.Weekday
	hour, minute int
}

// parseMailDue parses "Monday 12:00" (weekday names in English, full or three
// letters; "" is no deadline).
func parseMailDue(s string) (mailDue, error) {
	if strings.TrimSpace(s) == "" {
		return mailDue{}, nil
	}
	day, hm, ok := strings.Cut(strings.TrimSpace(s), " ")
	bad := fmt.Errorf("%q: want a weekday and a UTC time, e.g. \"Monday 12:00\"", s)
	if !ok {
		return mailDue{}, bad
	}
	d := mailDue{set: true, day: -1}
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if n := wd.String(); strings.EqualFold(day, n) || strings.EqualFold(day, n[:3]) {
			d.day = wd
		}
	}
	if _, err := fmt.Sscanf(strings.TrimSpace(hm), "%d:%d", &d.hour, &d.minute); err != nil || d.day < 0 ||
		d.hour < 0 || d.hour > 23 || d.minute < 0 || d.minute > 59 {
		return mailDue{}, bad
	}
	return d, nil
}

// in returns the deadline within period (ISO weeks start on Monday).
func (d mailDue) in(period string) (time.Time, error) {
	start, err := mailer.PeriodStart(period)
	if err != nil {
		return time.Time{}, err
	}
	days := (int(d.day) + 6) % 7 // Monday 0 ... Sunday 6
	return start.AddDate(0, 0, days).Add(time.Duration(d.hour)*time.Hour + time.Duration(d.minute)*time.Minute), nil
}

// checkMailStatus reads the weekly email's current and last period from the ledger
// and adds its findings to rep. Nil when no state database is configured (neither
// mail.state nor source) or it holds no ledger (never migrated: the weekly email is
// not in use).
func checkMailStatus(ctx context.Context, a *app, now time.Time, rep *backup.StatusReport) *statusview.Mail {
	c := a.cfg
	dsn := string(c.Mail.State)
	if dsn == "" {
		dsn = string(c.Source)
	}
	if dsn == "" {
		return nil
	}
	cur := mailer.PeriodOf(now)
	m := &statusview.Mail{Current: statusview.MailPeriod{Period: cur}, Last: statusview.MailPeriod{Period: mailer.PeriodOf(now.AddDate(0, 0, -7))},
		FailedCritPercent: c.Status.MailFailedCrit, DueText: c.Status.MailDue}
	due, _ := parseMailDue(c.Status.MailDue) // validated with the config
	if due.set {
		t, err := due.in(cur)
		if err == nil {
			m.Due = &t
		}
	}
	e := &mailEnv{}
	defer e.close()
	pool, err := e.openPool(ctx, dsn, 2)
	var ps []weekly.PeriodStatus
	if err == nil {
		ps, err = weekly.Statuses(ctx, &weekly.Config{State: pool, Schema: c.Mail.Schema}, m.Current.Period, m.Last.Period)
	}
	if errors.Is(err, weekly.ErrNotMigrated) {
		return nil // the weekly email is not used with this state database
	}
	if err != nil {
		m.Error = fmt.Sprintf("state database %s: %v", pgdsn.Redact(dsn), err)
		rep.AddProblem(backup.LevelUnknown, "mail", "weekly email: "+m.Error)
		return m
	}
	m.Current, m.Last = statusview.MailPeriod(ps[0]), statusview.MailPeriod(ps[1])
	judgeMail(m, now, rep)
	return m
}

// judgeMail: WARNING when the current week's run is not finished by its deadline;
// CRITICAL when more than the threshold of the selected members failed permanently
// (the current period once it started, else the last).
func judgeMail(m *statusview.Mail, now time.Time, rep *backup.StatusReport) {
	cur := m.Current
	if m.Due != nil && !now.Before(*m.Due) && (cur.Selected == 0 || cur.Pending > 0) {
		what := "not started"
		if cur.Selected > 0 {
			what = fmt.Sprintf("not finished (%d of %d pending)", cur.Pending, cur.Selected)
		}
		rep.AddProblem(backup.LevelWarning, "mail", fmt.Sprintf("weekly email %s %s by %s UTC", cur.Period, what, m.DueText))
	}
	judged := cur
	if cur.Selected == 0 {
		judged = m.Last
	}
	if judged.Selected > 0 {
		pct := 100 * float64(judged.Failed) / float64(judged.Selected)
		if pct > m.FailedCritPercent {
			rep.AddProblem(backup.LevelCritical, "mail", fmt.Sprintf("weekly email %s: %d of %d selected members (%.1f%%) failed permanently (critical above %g%%)",
				judged.Period, judged.Failed, judged.Selected, pct, m.FailedCritPercent))
		}
	}
}
