package mailer

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	netmail "net/mail"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/linkagogo/linkbackup/export"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	textTmpl = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/weekly.txt.tmpl"))
	htmlTmpl = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/weekly.html.tmpl"))
)

// Composer builds the weekly messages. It is safe for concurrent use.
type Composer struct {
	// From is the sender with its display name ("LinkaGoGo <backup@linkagogo.com>").
	From *netmail.Address
	// ReplyTo, optional, receives replies.
	ReplyTo *netmail.Address
	// Product names the service in the subject and body. Default "LinkaGoGo".
	Product string
	// MessageIDDomain is the right-hand side of Message-IDs. Default: From's domain.
	MessageIDDomain string
	// Unsubscribe makes the List-Unsubscribe URL and the visible link.
	Unsubscribe Unsubscribe
	// DKIM, optional, signs every message.
	DKIM *DKIM

	// headerCanon overrides DKIM header canonicalization (tests show go-mail's bug).
	headerCanon mail.Canonicalization
}

// Weekly is what one weekly message says.
type Weekly struct {
	Member export.Member
	Period string    // ISO week, "2026-W48"
	Date   time.Time // Date header; also "as of" in the text
	Stats  export.Stats
	// NewLinks is the number of links created since the previous weekly backup; a
	// negative value means there was none (first backup).
	NewLinks int
	// Exactly one of Attachment and Download is set.
	Attachment *Attachment
	Download   *Download
}

// Attachment is the zip attached to the message.
type Attachment struct {
	Name string // ASCII file name, e.g. bookmarks-2026-W48.zip
	Data io.ReadSeeker
	Size int64
}

// Download is the link sent instead of a large attachment.
type Download struct {
	URL     string
	Expires time.Time
	Size    int64
}

// ParseAddress parses "Name <addr>" or "addr" for From and Reply-To.
func ParseAddress(s string) (*netmail.Address, error) {
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("mailer: address %q: %w", s, err)
	}
	return a, nil
}

// Validate checks the composer's settings.
func (c *Composer) Validate() error {
	if c.From == nil || c.From.Address == "" {
		return fmt.Errorf("mailer: no From address")
	}
	if c.domain() == "" {
		return fmt.Errorf("mailer: From %q has no domain for Message-IDs", c.From.Address)
	}
	return c.Unsubscribe.Validate()
}

func (c *Composer) domain() string {
	if c.MessageIDDomain != "" {
		return c.MessageIDDomain
	}
	if c.From == nil {
		return ""
	}
	_, d, _ := strings.Cut(c.From.Address, "@")
	return d
}

func (c *Composer) product() string {
	if c.Product == "" {
		return "LinkaGoGo"
	}
	return c.Product
}

// MessageID returns the Message-ID (without angle brackets) of a member's message for
// period: the same for every attempt, so duplicates are recognisable.
func (c *Composer) MessageID(memberID int64, period string) string {
	return fmt.Sprintf("weekly-backup.%d.%s@%s", memberID, period, c.domain())
}

// AttachmentName is the zip's file name for period.
func AttachmentName(period string) string { return "bookmarks-" + period + ".zip" }

// Subject returns the subject line: link count and week.
func (c *Composer) Subject(w Weekly) string {
	return fmt.Sprintf("Your %s backup for %s: %s", c.product(), w.Period, plural(w.Stats.Links, "link"))
}

// Weekly builds the message for w. An unusable member address is a permanent
// *SendError (StageCompose).
func (c *Composer) Weekly(w Weekly) (*mail.Msg, error) {
	if (w.Attachment == nil) == (w.Download == nil) {
		return nil, fmt.Errorf("mailer: weekly: want exactly one of attachment and download link")
	}
	to, err := netmail.ParseAddress(w.Member.Email)
	if err != nil || to.Name != "" {
		if err == nil {
			err = fmt.Errorf("display name in the address column")
		}
		return nil, &SendError{Stage: StageCompose, permanent: true,
			Err: fmt.Errorf("%w: member %d: %v", ErrInvalidAddress, w.Member.ID, err), Reply: "invalid address: " + err.Error()}
	}
	to.Name = export.CleanTitle(w.Member.DisplayName)

	m := mail.NewMsg(mail.WithNoDefaultUserAgent(), mail.WithCharset(mail.CharsetUTF8), mail.WithEncoding(mail.EncodingQP))
	m.FromMailAddress(c.From)
	m.ToMailAddress(to)
	if c.ReplyTo != nil {
		m.ReplyToMailAddress(c.ReplyTo)
	}
	m.Subject(c.Subject(w))
	m.SetDateWithValue(w.Date)
	m.SetMessageIDWithValue(c.MessageID(w.Member.ID, w.Period))
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	unsub := c.Unsubscribe.URLFor(w.Member.ID)
	if err := m.SetListUnsubscribeOneClick(unsub); err != nil {
		return nil, fmt.Errorf("mailer: list-unsubscribe: %w", err)
	}

	text, html, err := c.Bodies(w)
	if err != nil {
		return nil, err
	}
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	if a := w.Attachment; a != nil {
		m.AttachReadSeeker(a.Name, a.Data, mail.WithFileContentType("application/zip"), mail.WithFileEncoding(mail.EncodingB64))
	}
	if c.DKIM != nil {
		canon := c.headerCanon
		if canon == "" {
			canon = mail.CanonicalizationSimple
		}
		m.SetDKIM(c.DKIM.signer(canon))
	}
	return m, nil
}

// Bodies renders the text and HTML bodies of w.
func (c *Composer) Bodies(w Weekly) (text, html string, err error) {
	d := map[string]any{
		"Product":      c.product(),
		"Name":         export.CleanTitle(w.Member.DisplayName),
		"Week":         weekLabel(w.Period),
		"LinksText":    plural(w.Stats.Links, "link"),
		"FoldersText":  plural(w.Stats.Folders, "folder"),
		"First":        w.NewLinks < 0,
		"NewLinksText": plural(max(w.NewLinks, 0), "link"),
		"Omitted":      w.Stats.OmittedHTML,
		"OmittedText":  plural(w.Stats.OmittedHTML, "link"),
		"HTMLName":     export.FileName(w.Date, "html"),
		"XBELName":     export.FileName(w.Date, "xbel"),
		"AsOf":         w.Date.UTC().Format("Monday 2 January 2006, 15:04 UTC"),
		"Unsubscribe":  c.Unsubscribe.URLFor(w.Member.ID),
		"Download":     "",
	}
	if a := w.Attachment; a != nil {
		d["FileName"], d["SizeText"] = a.Name, humanSize(a.Size)
	} else {
		d["Download"], d["SizeText"] = w.Download.URL, humanSize(w.Download.Size)
		d["Expires"] = w.Download.Expires.UTC().Format("2 January 2006, 15:04 UTC")
	}
	var tb, hb bytes.Buffer
	if err := textTmpl.Execute(&tb, d); err != nil {
		return "", "", fmt.Errorf("mailer: text template: %w", err)
	}
	if err := htmlTmpl.Execute(&hb, d); err != nil {
		return "", "", fmt.Errorf("mailer: html template: %w", err)
	}
	return tb.String(), hb.String(), nil
}

// weekLabel turns "2026-W48" into "week 48 of 2026 (23 to 29 November)".
func weekLabel(period string) string {
	mon, err := PeriodStart(period)
	if err != nil {
		return period
	}
	sun := mon.AddDate(0, 0, 6)
	y, wk, _ := strings.Cut(period, "-W")
	wn, _ := strconv.Atoi(wk)
	if mon.Month() == sun.Month() {
		return fmt.Sprintf("week %d of %s (%d to %d %s)", wn, y, mon.Day(), sun.Day(), sun.Month())
	}
	return fmt.Sprintf("week %d of %s (%d %s to %d %s)", wn, y, mon.Day(), mon.Month(), sun.Day(), sun.Month())
}

// PeriodOf returns the ISO week of t (UTC) as "2026-W48".
func PeriodOf(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// PeriodStart parses an ISO week "YYYY-Www" and returns its Monday 00:00 UTC.
func PeriodStart(period string) (time.Time, error) {
	bad := fmt.Errorf("period %q: want an ISO week like 2026-W48", period)
	if len(period) != 8 || period[4:6] != "-W" {
		return time.Time{}, bad
	}
	y, err1 := strconv.Atoi(period[:4])
	w, err2 := strconv.Atoi(period[6:])
	if err1 != nil || err2 != nil || y < 1000 || w < 1 || w > 53 {
		return time.Time{}, bad
	}
	// The Monday of week 1 is the Monday on or before 4 January.
	jan4 := time.Date(y, 1, 4, 0, 0, 0, 0, time.UTC)
	mon := jan4.AddDate(0, 0, -((int(jan4.Weekday())+6)%7)+7*(w-1))
	if PeriodOf(mon) != period {
		return time.Time{}, fmt.Errorf("period %q: %d has no week %d", period, y, w)
	}
	return mon, nil
}

func plural(n int, word string) string {
	s := thousands(n) + " " + word
	if n != 1 {
		s += "s"
	}
	return s
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func humanSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.0f kB", float64(n)/1000)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
}
