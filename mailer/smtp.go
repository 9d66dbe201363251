package mailer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/linkagogo/linkbackup/export"
)

// SMTP is a Transport over a small pool of reused SMTP connections.
type SMTP struct {
	cfg   SMTPConfig
	gm    *mail.Client  // go-mail client: connection setup (EHLO, STARTTLS, AUTH) only
	slots chan struct{} // one token per open connection
	idle  chan *conn
	dials atomic.Int64
}

var _ Transport = (*SMTP)(nil)

type conn struct {
	sc       *smtp.Client
	nc       net.Conn
	sent     int
	lastUsed time.Time
	reused   bool

	mu        sync.Mutex
	cancelled bool
}

// extend pushes the connection's deadline timeout ahead, unless the send was cancelled.
func (c *conn) extend(timeout time.Duration) {
	c.mu.Lock()
	if !c.cancelled {
		c.nc.SetDeadline(time.Now().Add(timeout))
	}
	c.mu.Unlock()
}

// cancel makes every blocked or later read and write fail at once.
func (c *conn) cancel() {
	c.mu.Lock()
	c.cancelled = true
	c.nc.SetDeadline(time.Unix(1, 0))
	c.mu.Unlock()
}

type dialKey struct{}

// NewSMTP returns an SMTP transport; it connects lazily.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{}
	} else {
		tc = tc.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if cfg.TLS == TLSImplicit {
			tlsConn := tls.Client(nc, tc)
			if err := tlsConn.HandshakeContext(ctx); err != nil {
				nc.Close()
				return nil, err
			}
			nc = tlsConn
		}
		if h, ok := ctx.Value(dialKey{}).(*net.Conn); ok {
			*h = nc
		}
		return nc, nil
	}
	policy := mail.TLSMandatory
	switch cfg.TLS {
	case TLSOpportunistic:
		policy = mail.TLSOpportunistic
	case TLSNone, TLSImplicit: // implicit: the dialer already speaks TLS
		policy = mail.NoTLS
	}
	opts := []mail.Option{
		mail.WithPort(cfg.Port), mail.WithTimeout(cfg.Timeout), mail.WithTLSPolicy(policy),
		mail.WithTLSConfig(tc), mail.WithDialContextFunc(dial), mail.WithoutNoop(), mail.WithoutRset(),
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		auth := mail.SMTPAuthAutoDiscover
		if cfg.TLS == TLSNone {
			auth = mail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	gm, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mailer: smtp: %w", err)
	}
	return &SMTP{cfg: cfg, gm: gm, slots: make(chan struct{}, cfg.Connections), idle: make(chan *conn, cfg.Connections)}, nil
}

// String describes the transport (no credentials).
func (s *SMTP) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)), RawQuery: "tls=" + s.cfg.TLS}
	if s.cfg.Username != "" {
		u.User = url.User(s.cfg.Username)
	}
	return u.String()
}

// Dials returns how many connections were opened so far.
func (s *SMTP) Dials() int64 { return s.dials.Load() }

// Send delivers msg over a pooled connection. A connection is put back only after a
// clean delivery; after any error it is closed.
func (s *SMTP) Send(ctx context.Context, msg *mail.Msg) (Result, error) {
	from, err := msg.GetSender(false)
	if err != nil {
		return Result{}, &SendError{Stage: StageCompose, permanent: true, Err: fmt.Errorf("%w: sender: %v", ErrInvalidAddress, err)}
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return Result{}, &SendError{Stage: StageCompose, permanent: true, Err: fmt.Errorf("%w: recipients: %v", ErrInvalidAddress, err)}
	}
	for try := 0; ; try++ {
		c, err := s.get(ctx)
		if err != nil {
			return Result{}, err
		}
		res, err := s.sendOn(ctx, c, from, rcpts, msg)
		if err == nil {
			s.put(c)
			return res, nil
		}
		s.discard(c, false)
		// A reused connection the server closed while it was idle fails at MAIL
		// without a reply; nothing was sent, so a fresh connection may try at once.
		var se *SendError
		if try == 0 && c.reused && errors.As(err, &se) && se.Stage == StageMail && se.Code == 0 && ctx.Err() == nil {
			continue
		}
		return Result{}, err
	}
}

func (s *SMTP) sendOn(ctx context.Context, c *conn, from string, rcpts []string, msg *mail.Msg) (Result, error) {
	stop := context.AfterFunc(ctx, c.cancel)
	defer stop()
	c.extend(s.cfg.Timeout)
	if err := c.sc.Mail(from); err != nil {
		return Result{}, s.fail(ctx, StageMail, err)
	}
	for _, r := range rcpts {
		if err := c.sc.Rcpt(r); err != nil {
			return Result{}, s.fail(ctx, StageRcpt, err)
		}
	}
	// DATA is spoken here rather than through the client's Data(): net/textproto's
	// DotWriter stuffs dots and fixes line ends one byte at a time, which cost as
	// much CPU as rendering the zip. dotWriter does the same over whole lines.
	t := c.sc.Text
	id, err := t.Cmd("DATA")
	if err == nil {
		t.StartResponse(id)
		_, _, err = t.ReadResponse(354)
		t.EndResponse(id)
	}
	if err != nil {
		return Result{}, s.fail(ctx, StageData, err)
	}
	// textproto's 4 kB buffer would mean a write(2) per 4 kB; the larger one in
	// front of it is written through in one piece (bufio passes large writes on).
	bw := dataBufs.Get().(*bufio.Writer)
	bw.Reset(t.W)
	dw := &dotWriter{w: bw, bol: true}
	cw := &export.CountingWriter{W: &extendWriter{w: dw, c: c, timeout: s.cfg.Timeout}}
	_, err = msg.WriteTo(cw)
	if err == nil {
		err = dw.Close()
	}
	if err == nil {
		err = t.W.Flush()
	}
	bw.Reset(nil)
	dataBufs.Put(bw)
	if err != nil {
		return Result{}, s.fail(ctx, StageData, err)
	}
	c.extend(s.cfg.Timeout)
	_, reply, err := t.ReadResponse(250)
	if err != nil {
		return Result{}, s.fail(ctx, StageDot, err)
	}
	c.sent++
	return Result{Reply: reply, Size: cw.N}, nil
}

// fail turns a protocol or network error into a *SendError.
func (s *SMTP) fail(ctx context.Context, stage Stage, err error) *SendError {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &SendError{Stage: stage, Code: te.Code, Reply: te.Msg, permanent: te.Code >= 500 && te.Code < 600, Err: err}
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return &SendError{Stage: stage, Reply: err.Error(), Err: err}
}
