package mailer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/linkagogo/linkbackup/export"
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

// dotWriter writes SMTP message data (RFC 5321 4.5.2) exactly as net/textproto's
// DotWriter does: a '.' at the start of a line is doubled and a bare LF becomes CRLF
// (a bare CR passes through); Close ends the last line if needed and writes ".\r\n",
// then flushes. It works on whole lines instead of single bytes.
type dotWriter struct {
	w   *bufio.Writer
	bol bool // at the beginning of a line
	cr  bool // textproto's CR state: the next '\n' ends the line as it is
}

func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.bol && p[0] == '.' {
			d.w.WriteByte('.')
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.w.Write(p)
			d.bol, d.cr = false, crState(d.cr, p)
			break
		}
		if i > 0 {
			d.w.Write(p[:i])
			d.cr = crState(d.cr, p[:i])
		}
		if !d.cr {
			d.w.WriteByte('\r')
		}
		d.w.WriteByte('\n')
		d.bol, d.cr = true, false
		p = p[i+1:]
	}
	// bufio.Writer keeps its first write error and returns it from every later call.
	if _, err := d.w.Write(nil); err != nil {
		return 0, err
	}
	return n, nil
}

var dataBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// crState returns whether textproto's DotWriter is in its CR state after seg (no
// '\n' in it) when cr was the state before: each '\r' of a trailing run toggles it
// (a CR after a CR is data), and any other byte clears it.
func crState(cr bool, seg []byte) bool {
	r := len(seg) - len(bytes.TrimRight(seg, "\r"))
	if r < len(seg) {
		cr = false
	}
	return cr != (r%2 == 1)
}

// Close writes the end of data (".\r\n" at the start of a line) and flushes.
func (d *dotWriter) Close() error {
	switch {
	case d.cr:
		d.w.WriteByte('\n')
	case !d.bol:
		d.w.WriteString("\r\n")
	}
	d.w.WriteString(".\r\n")
	return d.w.Flush()
}

// extendWriter extends the connection deadline as data flows, so that Timeout bounds
// a stalled write and not the whole (possibly large) message.
type extendWriter struct {
	w       interface{ Write([]byte) (int, error) }
	c       *conn
	timeout time.Duration
	last    time.Time
}

func (e *extendWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(e.last) > time.Second {
		e.c.extend(e.timeout)
		e.last = now
	}
	return e.w.Write(p)
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

// get returns an idle connection or dials one when the pool has room; it waits for a
// free connection otherwise.
func (s *SMTP) get(ctx context.Context) (*conn, error) {
	for {
		var c *conn
		select {
		case c = <-s.idle:
		default:
			select {
			case c = <-s.idle:
			case s.slots <- struct{}{}:
			case <-ctx.Done():
				return nil, &SendError{Stage: StageConnect, Reply: ctx.Err().Error(), Err: ctx.Err()}
			}
		}
		if c == nil {
			return s.dial(ctx)
		}
		if time.Since(c.lastUsed) > s.cfg.IdleTimeout || !c.sc.HasConnection() {
			s.discard(c, true)
			continue
		}
		c.reused = true
		return c, nil
	}
}

// dial opens a connection; the caller holds a slot, released here on failure.
func (s *SMTP) dial(ctx context.Context) (*conn, error) {
	var nc net.Conn
	sc, err := s.gm.DialToSMTPClientWithContext(context.WithValue(ctx, dialKey{}, &nc))
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		<-s.slots
		var te *textproto.Error
		se := &SendError{Stage: StageConnect, Err: err, Reply: err.Error()}
		if errors.As(err, &te) {
			se.Code, se.Reply = te.Code, te.Msg // still temporary: it concerns the server, not the member
		}
		return nil, se
	}
	s.dials.Add(1)
	return &conn{sc: sc, nc: nc}, nil
}

// put returns c to the pool, or closes it when it has sent MaxPerConn messages.
func (s *SMTP) put(c *conn) {
	if c.sent >= s.cfg.MaxPerConn {
		s.discard(c, true)
		return
	}
	c.lastUsed = time.Now()
	s.idle <- c // never blocks: idle holds at most Connections
}

// discard closes c (politely with QUIT when clean) and frees its slot.
func (s *SMTP) discard(c *conn, clean bool) {
	if clean {
		c.nc.SetDeadline(time.Now().Add(2 * time.Second))
		_ = c.sc.Quit()
	}
	c.nc.Close()
	<-s.slots
}

// Close quits every idle connection.
func (s *SMTP) Close() error {
	for {
		select {
		case c := <-s.idle:
			s.discard(c, true)
		default:
			return nil
		}
	}
}

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
