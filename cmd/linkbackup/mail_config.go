package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/mailer"
	"github.com/linkagogo/linkbackup/mailer/weekly"
)

// MailConfig configures the weekly backup email (`export --mail`, `worker`, `migrate`).
// Keys are under mail: in the config file, LINKBACKUP_MAIL_<KEY> in the environment.
type MailConfig struct {
	// State is the DSN of the state database: River's job tables and the delivery
	// ledger, in Schema. Default "" (the source database; backups leave Schema out by
	// default: migrate marks it and it holds only the state tables, see
	// backup.include_state_schemas).
	State DSN `yaml:"state"`
	// Schema holds the state tables. Default "linkbackup_mail".
	Schema string `yaml:"schema"`
	// Mailer is the transport: smtp://[user@]host[:port]?tls=starttls|tls|opportunistic|none
	// or file:///abs/dir (one .eml per message). Its password is never printed. Default "".
	Mailer MailerURL `yaml:"mailer"`
	// Password is the SMTP password; overrides the URL's. Prefer LINKBACKUP_MAIL_PASSWORD
	// or PasswordFile. Default "".
	Password Secret `yaml:"password"`
	// PasswordFile holds the SMTP password (first line). Default "".
	PasswordFile string `yaml:"password_file"`
	// From is the sender with display name, e.g. "LinkaGoGo <backup@linkagogo.com>".
	// Default "".
	From string `yaml:"from"`
	// ReplyTo receives replies. Default "" (none).
	ReplyTo string `yaml:"reply_to"`
	// Product names the service in subject and body. Default "LinkaGoGo".
	Product string `yaml:"product"`
	// MessageIDDomain is the right-hand side of Message-IDs. Default "" (From's domain).
	MessageIDDomain string `yaml:"message_id_domain"`
	// UnsubscribeURL is an https URL with {token} (an HMAC-signed member token, checked
	// by the web application with the same secret). Default "".
	UnsubscribeURL string `yaml:"unsubscribe_url"`
	// UnsubscribeSecret keys the unsubscribe tokens and download keys (>= 16 bytes).
	// Default "".
	UnsubscribeSecret Secret `yaml:"unsubscribe_secret"`
	// UnsubscribeSecretFile holds UnsubscribeSecret (first line). Default "".
	UnsubscribeSecretFile string `yaml:"unsubscribe_secret_file"`
	// UnsubscribeKeyVersion is the version of UnsubscribeSecret, carried in every token
	// (rotate: new secret, version+1, the old one under unsubscribe_old_keys). Default 1.
	UnsubscribeKeyVersion int `yaml:"unsubscribe_key_version"`
	// UnsubscribeOldKeys are rotated-out secrets whose tokens `serve` still accepts
	// until their date. YAML only. Default none.
	UnsubscribeOldKeys []OldKey `yaml:"unsubscribe_old_keys"`
	// UnsubscribeSQL turns a member's weekly backup off when they unsubscribe (`serve`;
	// $1 is the member id; run on the source). Default
	// "UPDATE members SET weekly_backup = false WHERE id = $1".
	UnsubscribeSQL string `yaml:"unsubscribe_sql"`
	// DKIMKeyFile is a PEM RSA or Ed25519 private key; empty: no DKIM. Default "".
	DKIMKeyFile string `yaml:"dkim_key_file"`
	// DKIMDomain (d=) and DKIMSelector (s=). Default "" (DKIMDomain: From's domain).
	DKIMDomain   string `yaml:"dkim_domain"`
	DKIMSelector string `yaml:"dkim_selector"`
	// Store receives zips above MaxAttachmentMB under exports/<period>/; the mail links
	// to them. It must not be (or overlap) the snapshot store, which is refused: a
	// published directory must never publish snapshots. Default "" (large zips are
	// attached).
	Store string `yaml:"store"`
	// MaxAttachmentMB: larger zips are sent as a link. Default 10.
	MaxAttachmentMB float64 `yaml:"max_attachment_mb"`
	// LinkExpiry is the lifetime of pre-signed download links (S3: at most 168h).
	// Default 168h.
	LinkExpiry time.Duration `yaml:"link_expiry"`
	// LinkBaseURL is the public URL of `linkbackup serve`, which publishes a file://
	// Store: links are base/download/<key>?e=<expiry>&s=<signature> (the signing key
	// is derived from UnsubscribeSecret for downloads only). Default "" (file:// links,
	// for demos).
	LinkBaseURL string `yaml:"link_base_url"`
	// Rate is the most messages per second started (0: unlimited), by all processes
	// sharing the state database together or by each alone (RateScope). Default 50.
	Rate float64 `yaml:"rate"`
	// RateScope is what Rate limits: "all" (default; one schedule in the state
	// database, see mailer/weekly/rate.go) or "process".
	RateScope string `yaml:"rate_scope"`
	// Concurrency is the number of members rendered and sent at once per process. Default 8.
	Concurrency int `yaml:"concurrency"`
	// Connections is the SMTP connection pool size per process. Default 4.
	Connections int `yaml:"connections"`
	// SMTPTimeout bounds dialing and each read/write on an SMTP connection. Default 60s.
	SMTPTimeout time.Duration `yaml:"smtp_timeout"`
	// MaxAttempts bounds the delivery attempts per member and period. Default 8.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryBase and RetryMax: backoff RetryBase*2^(attempt-1), capped. Defaults 30s, 1h.
	RetryBase time.Duration `yaml:"retry_base"`
	RetryMax  time.Duration `yaml:"retry_max"`
	// JobTimeout bounds one member's job. Default 5m.
	JobTimeout time.Duration `yaml:"job_timeout"`
	// RescueAfter: jobs running longer are taken to belong to a dead worker and retried
	// (River's rescuer; the backstop: a killed worker's jobs are handed back within
	// seconds, as its liveness lock is free, see mailer/weekly/rescue.go)
	// (must exceed JobTimeout). Default 15m.
	RescueAfter time.Duration `yaml:"rescue_after"`
	// SuppressAfter: a member whose address failed permanently (5xx, unusable) in
	// this many consecutive periods of theirs is skipped, "suppressed: address
	// bounced", until the address changes. 0: never. Default 2.
	SuppressAfter int `yaml:"suppress_after"`
	// ShutdownTimeout: on SIGTERM, in-flight jobs get this long to finish before they
	// are cancelled (and retried later). Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// DefaultMailConfig returns the mail defaults.
func DefaultMailConfig() MailConfig {
	return MailConfig{
		Schema:                weekly.DefaultSchema,
		Product:               "LinkaGoGo",
		MaxAttachmentMB:       10,
		LinkExpiry:            7 * 24 * time.Hour,
		Rate:                  50,
		RateScope:             "all",
		Concurrency:           8,
		Connections:           4,
		SMTPTimeout:           60 * time.Second,
		MaxAttempts:           8,
		RetryBase:             30 * time.Second,
		RetryMax:              time.Hour,
		JobTimeout:            5 * time.Minute,
		RescueAfter:           15 * time.Minute,
		ShutdownTimeout:       30 * time.Second,
		SuppressAfter:         2,
		UnsubscribeKeyVersion: 1,
		UnsubscribeSQL:        "UPDATE members SET weekly_backup = false WHERE id = $1",
	}
}

// Validate checks ranges; commands check what they require.
func (c *MailConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Schema == "" || strings.ContainsAny(c.Schema, "\"\x00") {
		bad("mail.schema %q: want a schema name", c.Schema)
	}
	if c.Mailer != "" && !strings.HasPrefix(string(c.Mailer), "smtp://") && !strings.HasPrefix(string(c.Mailer), "file:///") {
		bad("mail.mailer (--mailer) %s: want smtp://host:port?tls=starttls|tls|none or file:///abs/dir", c.Mailer)
	}
	if c.From != "" {
		if _, err := mailer.ParseAddress(c.From); err != nil {
			bad("mail.from (--from): %v", err)
		}
	}
	if c.ReplyTo != "" {
		if _, err := mailer.ParseAddress(c.ReplyTo); err != nil {
			bad("mail.reply_to: %v", err)
		}
	}
	if c.MaxAttachmentMB <= 0 {
		bad("mail.max_attachment_mb = %g: want > 0", c.MaxAttachmentMB)
	}
	if c.Rate < 0 {
		bad("mail.rate (--rate) = %g: want >= 0 (0: unlimited)", c.Rate)
	}
	if c.RateScope != "all" && c.RateScope != "process" {
		bad("mail.rate_scope (--rate-scope) = %q: want all or process", c.RateScope)
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		bad("mail.concurrency (--concurrency) = %d: want 1..256", c.Concurrency)
	}
	if c.Connections < 1 || c.Connections > 64 {
		bad("mail.connections = %d: want 1..64", c.Connections)
	}
	if c.UnsubscribeKeyVersion < 1 {
		bad("mail.unsubscribe_key_version = %d: want >= 1", c.UnsubscribeKeyVersion)
	}
	if c.SuppressAfter < 0 || c.SuppressAfter > 52 {
		bad("mail.suppress_after = %d: want 0..52 (0: never suppress)", c.SuppressAfter)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		bad("mail.max_attempts = %d: want 1..100", c.MaxAttempts)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"mail.link_expiry", c.LinkExpiry}, {"mail.smtp_timeout", c.SMTPTimeout}, {"mail.retry_base", c.RetryBase},
		{"mail.retry_max", c.RetryMax}, {"mail.job_timeout", c.JobTimeout}, {"mail.rescue_after", c.RescueAfter},
		{"mail.shutdown_timeout", c.ShutdownTimeout}} {
		if d.v <= 0 {
			bad("%s = %s: want > 0", d.key, d.v)
		}
	}
	if c.RescueAfter <= c.JobTimeout {
		bad("mail.rescue_after = %s: must exceed mail.job_timeout = %s", c.RescueAfter, c.JobTimeout)
	}
	if c.UnsubscribeURL != "" {
		u := mailer.Unsubscribe{URL: c.UnsubscribeURL, Secret: make([]byte, 16)}
		if err := u.Validate(); err != nil {
			bad("mail.unsubscribe_url: %v", err)
		}
	}
	if c.LinkBaseURL != "" {
		if u, err := url.Parse(c.LinkBaseURL); err != nil || u.Scheme != "https" && u.Scheme != "http" {
			bad("mail.link_base_url %q: want http(s)://", c.LinkBaseURL)
		}
	}
	return errors.Join(errs...)
}

// OldKey is a rotated-out unsubscribe secret.
type OldKey struct {
	// Version is the key version its tokens carry.
	Version int `yaml:"version"`
	// SecretFile holds the secret (first line).
	SecretFile string `yaml:"secret_file"`
	// Until: its tokens are refused from this date (YYYY-MM-DD, UTC) on. Keep it at
	// least as long as members keep old emails: rotating it out breaks their links.
	Until string `yaml:"until"`
}

// unsubscribeKeys returns the current and old unsubscribe keys.
func (c *MailConfig) unsubscribeKeys(secret string) (mailer.Unsubscribe, error) {
	u := mailer.Unsubscribe{URL: c.UnsubscribeURL, Secret: []byte(secret), Version: c.UnsubscribeKeyVersion}
	for i, k := range c.UnsubscribeOldKeys {
		s, err := readSecretFile(k.SecretFile, fmt.Sprintf("mail.unsubscribe_old_keys[%d].secret_file", i))
		if err != nil {
			return u, err
		}
		until, err := time.Parse("2006-01-02", k.Until)
		if err != nil || k.Version < 1 || k.Version == u.Version || len(s) < 16 {
			return u, fmt.Errorf("mail.unsubscribe_old_keys[%d]: want version >= 1 other than the current one, a secret file of >= 16 bytes and until: YYYY-MM-DD", i)
		}
		u.Old = append(u.Old, mailer.TokenKey{Version: k.Version, Secret: []byte(s), Until: until})
	}
	return u, nil
}

// password returns the SMTP password from Password or PasswordFile ("" when neither).
func (c *MailConfig) password() (string, error) {
	if c.Password != "" {
		return string(c.Password), nil
	}
	return readSecretFile(c.PasswordFile, "mail.password_file")
}

// unsubscribeSecret returns the secret from UnsubscribeSecret or its file.
func (c *MailConfig) unsubscribeSecret() (string, error) {
	if c.UnsubscribeSecret != "" {
		return string(c.UnsubscribeSecret), nil
	}
	return readSecretFile(c.UnsubscribeSecretFile, "mail.unsubscribe_secret_file")
}

func readSecretFile(path, key string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// MailerURL is a transport URL whose String() hides the password.
type MailerURL string

func (m MailerURL) String() string {
	u, err := url.Parse(string(m))
	if err != nil {
		return "**unparsable mailer url redacted**"
	}
	return u.Redacted()
}

// MarshalYAML keeps the password out of `linkbackup config` output.
func (m MailerURL) MarshalYAML() (any, error) { return m.String(), nil }
