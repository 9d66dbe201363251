// Package mailer builds and delivers the weekly backup email: the message (go-mail,
// multipart/alternative text + HTML, the zip attached or a download link, one-click
// unsubscribe, optional DKIM) and the transports that deliver it (SMTP with a small
// connection pool, or .eml files in a directory). It knows nothing of queues or
// databases: mailer/weekly runs the deliveries as River jobs with a ledger.
//
// # Errors
//
// Every transport returns a *SendError for delivery failures. Permanent() is true
// only for a 5xx reply to MAIL, RCPT or the message data (or an address that cannot
// be used at all): the message will never be accepted as it is, so the caller records
// it for that member and moves on. Everything else (4xx, timeouts, refused or
// dropped connections, TLS and AUTH failures, which concern the server rather than the
// member) is temporary and worth retrying later.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/wneessen/go-mail"
)

// Transport delivers one message. Implementations are safe for concurrent use.
type Transport interface {
	// Send delivers msg to the recipients of its To/Cc/Bcc headers, with its From
	// address as the envelope sender. A delivery failure is a *SendError.
	Send(ctx context.Context, msg *mail.Msg) (Result, error)
	// Close releases idle connections; in-flight sends are not interrupted.
	Close() error
	// String describes the transport without secrets.
	String() string
}

// Result describes an accepted message.
type Result struct {
	// Reply is the server's final reply to the message data (e.g. "2.0.0 Ok: queued
	// as X"), or what the file transport wrote.
	Reply string
	// Size is the number of bytes of the message as sent (after DKIM signing).
	Size int64
}

// Stage names where a send failed.
type Stage string

// Stages of one delivery.
const (
	StageCompose Stage = "compose" // building the message: bad address, template
	StageConnect Stage = "connect" // dial, greeting, EHLO, STARTTLS, AUTH
	StageMail    Stage = "mail"    // MAIL FROM
	StageRcpt    Stage = "rcpt"    // RCPT TO
	StageData    Stage = "data"    // DATA command and writing the message
	StageDot     Stage = "dot"     // the reply to the final "." (delivery uncertain when it never comes)
	StageWrite   Stage = "write"   // file transport
)

// SendError is a failed delivery.
type SendError struct {
	Stage Stage
	// Code is the SMTP reply code, 0 when there was none (network error, timeout).
	Code int
	// Reply is the server's reply text (or the error text when there was no reply).
	Reply string
	// permanent: see Permanent.
	permanent bool
	Err       error
}

func (e *SendError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("mailer: %s: %d %s", e.Stage, e.Code, e.Reply)
	}
	return fmt.Sprintf("mailer: %s: %v", e.Stage, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same message cannot succeed: a 5xx reply
// after the connection was set up, or an unusable address.
func (e *SendError) Permanent() bool { return e.permanent }

// Uncertain reports whether the server may have accepted the message although no
// success reply was read: the connection broke after the final "." was sent.
func (e *SendError) Uncertain() bool { return e.Stage == StageDot && e.Code == 0 }

// IsPermanent reports whether err is a permanent *SendError.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent()
}

// ReplyOf returns the reply line to record for err: "550 5.1.1 no such user" or the
// error text.
func ReplyOf(err error) string {
	var se *SendError
	if errors.As(err, &se) {
		if se.Code != 0 {
			return fmt.Sprintf("%d %s", se.Code, se.Reply)
		}
		return fmt.Sprintf("%s: %v", se.Stage, se.Err)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// ErrInvalidAddress marks an address go-mail cannot use (a permanent failure).
var ErrInvalidAddress = errors.New("invalid address")

// Open returns the transport named by raw: smtp://... (see ParseSMTPURL) or
// file:///abs/dir (see NewFile). password, when not empty, replaces the URL's.
// connections, when > 0, sets the SMTP pool size unless the URL sets it.
func Open(raw, password string, connections int) (Transport, error) {
	switch {
	case strings.HasPrefix(raw, "smtp://"):
		cfg, err := ParseSMTPURL(raw)
		if err != nil {
			return nil, err
		}
		if password != "" {
			cfg.Password = password
		}
		if connections > 0 && !strings.Contains(raw, "connections=") {
			cfg.Connections = connections
		}
		return NewSMTP(cfg)
	case strings.HasPrefix(raw, "file:"):
		u, err := url.Parse(raw)
		if err != nil || u.Host != "" && u.Host != "localhost" || !strings.HasPrefix(u.Path, "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("mailer: %q: want file:///abs/dir", raw)
		}
		return NewFile(u.Path)
	}
	shown := raw
	if u, err := url.Parse(raw); err == nil {
		shown = u.Redacted()
	}
	return nil, fmt.Errorf("mailer: transport %q: want smtp://host:port?tls=starttls|tls|none or file:///abs/dir", shown)
}
