package mailer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// TLS modes of an SMTP transport.
const (
	TLSStartTLS      = "starttls"      // STARTTLS required (default; port 587)
	TLSImplicit      = "tls"           // TLS from the first byte (port 465)
	TLSOpportunistic = "opportunistic" // STARTTLS when offered
	TLSNone          = "none"          // plain text (local relays, mailpit)
)

// SMTPConfig configures an SMTP transport.
type SMTPConfig struct {
	Host string
	Port int // 0: 587 (starttls, opportunistic), 465 (tls), 25 (none)
	// TLS is one of TLSStartTLS (default), TLSImplicit, TLSOpportunistic, TLSNone.
	TLS string
	// Username and Password enable SMTP AUTH (PLAIN or LOGIN, whichever the server
	// offers; over plain text only with TLS=none, meant for local relays).
	Username string
	Password string
	// HELO is the name sent in EHLO. Default: the local host name.
	HELO string
	// Timeout bounds dialing and each read or write on the connection (it is extended
	// as the message data flows). Default 60s.
	Timeout time.Duration
	// Connections is the size of the connection pool: at most this many connections
	// are open at once and sends wait for a free one. Default 4.
	Connections int
	// MaxPerConn: a connection is closed (QUIT) after this many messages. Default 100.
	MaxPerConn int
	// IdleTimeout: an idle connection older than this is not reused (servers drop
	// idle clients). Default 20s.
	IdleTimeout time.Duration
	// TLSConfig overrides the TLS settings (tests: RootCAs). ServerName defaults to Host.
	TLSConfig *tls.Config
}

// ParseSMTPURL parses smtp://[user[:pass]@]host[:port][?tls=starttls|tls|opportunistic|none]
// (also timeout=60s, connections=4, max_per_conn=100, helo=NAME). The password may
// instead come from SMTPConfig.Password (a file or an environment variable): prefer
// that, URLs end up in shell histories.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	var c SMTPConfig
	u, err := url.Parse(raw)
	if err != nil {
		return c, fmt.Errorf("mailer: smtp url: %w", err)
	}
	if u.Scheme != "smtp" || u.Host == "" || u.Path != "" && u.Path != "/" {
		return c, fmt.Errorf("mailer: smtp url %q: want smtp://[user[:pass]@]host[:port]?tls=starttls|tls|opportunistic|none", u.Redacted())
	}
	c.Host = u.Hostname()
	if p := u.Port(); p != "" {
		if c.Port, err = strconv.Atoi(p); err != nil || c.Port < 1 || c.Port > 65535 {
			return c, fmt.Errorf("mailer: smtp url %q: bad port", u.Redacted())
		}
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	q := u.Query()
	c.TLS = q.Get("tls")
	c.HELO = q.Get("helo")
	if v := q.Get("timeout"); v != "" {
		if c.Timeout, err = time.ParseDuration(v); err != nil || c.Timeout <= 0 {
			return c, fmt.Errorf("mailer: smtp url: timeout=%q: want a duration like 30s", v)
		}
	}
	for name, dst := range map[string]*int{"connections": &c.Connections, "max_per_conn": &c.MaxPerConn} {
		if v := q.Get(name); v != "" {
			if *dst, err = strconv.Atoi(v); err != nil || *dst < 1 {
				return c, fmt.Errorf("mailer: smtp url: %s=%q: want a positive integer", name, v)
			}
		}
	}
	for k := range q {
		switch k {
		case "tls", "helo", "timeout", "connections", "max_per_conn":
		default:
			return c, fmt.Errorf("mailer: smtp url: unknown option %q", k)
		}
	}
	c = c.withDefaults()
	return c, c.validate()
}

func (c SMTPConfig) withDefaults() SMTPConfig {
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	if c.Port == 0 {
		switch c.TLS {
		case TLSImplicit:
			c.Port = 465
		case TLSNone:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.Connections <= 0 {
		c.Connections = 4
	}
	if c.MaxPerConn <= 0 {
		c.MaxPerConn = 100
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 20 * time.Second
	}
	return c
}

func (c SMTPConfig) validate() error {
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSOpportunistic, TLSNone:
	default:
		return fmt.Errorf("mailer: smtp tls=%q: want starttls, tls, opportunistic or none", c.TLS)
	}
	if c.Host == "" {
		return errors.New("mailer: smtp: no host")
	}
	return nil
}
