package main

import (
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

// Plaintext transports are a visible choice: each is warned about once per run.
var plaintextWarned sync.Map

func warnOnce(log *slog.Logger, key, msg string, args ...any) {
	if _, seen := plaintextWarned.LoadOrStore(key, true); !seen {
		log.Warn(msg, args...)
	}
}

// loopback tells whether host is this machine (or a Unix socket directory).
func loopback(host string) bool {
	if host == "" || strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// warnPlaintextDSN warns when dsn lets the connection to a host other than this one run
// without TLS (sslmode disable, allow or prefer, the last being libpq's default).
func warnPlaintextDSN(log *slog.Logger, what, dsn string) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return // the connection reports it
	}
	plain := cfg.TLSConfig == nil
	for _, fb := range cfg.Fallbacks {
		plain = plain || fb.TLSConfig == nil
	}
	if plain && !loopback(cfg.Host) {
		warnOnce(log, "pg:"+cfg.Host, "this connection may run without TLS: passwords and member data cross the network in "+
			"plain text; set sslmode=verify-full (or require)", "what", what, "dsn", pgdsn.Strip(dsn))
	}
}

// warnPlaintextStore warns about an s3 store reached over http:// on another host.
func warnPlaintextStore(log *slog.Logger, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" {
		return
	}
	ep, err := url.Parse(u.Query().Get("endpoint"))
	if err == nil && ep.Scheme == "http" && !loopback(ep.Hostname()) {
		warnOnce(log, "s3:"+ep.Host, "the S3 endpoint is plain http: credentials' signatures and snapshot objects cross the "+
			"network unencrypted; use https", "endpoint", ep.Host)
	}
}

// warnPlaintextSMTP warns about a password sent to another host without TLS.
func warnPlaintextSMTP(log *slog.Logger, raw string, hasPassword bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || !hasPassword {
		return
	}
	if u.Query().Get("tls") == "none" && !loopback(u.Hostname()) {
		warnOnce(log, "smtp:"+u.Host, "SMTP tls=none to another host with a password: the password and every member's "+
			"backup cross the network in plain text; use tls=starttls or tls=tls", "server", u.Host)
	}
}
