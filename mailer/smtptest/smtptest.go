// Package smtptest runs an in-process SMTP server (emersion/go-smtp) for tests that
// need faults a real server does not produce on demand: 4xx/5xx replies at chosen
// points, connections dropped in the middle of DATA, a server that stops answering.
// Accepted messages are kept in memory.
package smtptest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From      string
	To        []string
	MessageID string // the Message-ID header, angle brackets included
	Data      []byte
}

// Action is what a hook asks the server to do instead of accepting.
type Action int

// Actions a hook may return.
const (
	Accept Action = iota
	Reply         // reply with the hook's *smtp.SMTPError
	Drop          // close the connection at once (in DATA: after reading half the data)
	Stall         // stop answering until the client gives up or the server closes
)

// Hooks decide the fate of each command. Nil hooks accept. They run on the
// session's goroutine; Server serialises nothing else, so hooks that share state lock.
type Hooks struct {
	// Mail is called for MAIL FROM with the number of messages accepted earlier on
	// this connection.
	Mail func(perConn int) (Action, *smtp.SMTPError)
	// Rcpt is called for each RCPT TO with how often this recipient was seen before
	// (over all connections).
	Rcpt func(rcpt string, seen int) (Action, *smtp.SMTPError)
	// Data is called once the message has been read (Drop and Stall act before
	// reading it all), with how often this Message-ID was offered before.
	Data func(m Message, offered int) (Action, *smtp.SMTPError)
	// Discard keeps only the headers' Message-ID of accepted messages, not their data
	// (benchmarks: memory stays flat).
	Discard bool
}

// Server is an SMTP server on 127.0.0.1.
type Server struct {
	Addr string

	srv   *smtp.Server
	hooks Hooks
	stop  chan struct{}

	mu       sync.Mutex
	messages []Message
	rcptSeen map[string]int
	offered  map[string]int
	conns    int
}

// Start starts a server with hooks; it is closed at test end.
func Start(t testing.TB, hooks Hooks) *Server {
	t.Helper()
	s := &Server{hooks: hooks, stop: make(chan struct{}), rcptSeen: map[string]int{}, offered: map[string]int{}}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "smtptest.local"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = 64 << 20
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.ErrorLog = nopLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go s.srv.Serve(l)
	t.Cleanup(s.Close)
	return s
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// Close stops the server (stalled sessions are released).
func (s *Server) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.srv.Close()
}

// URL is the smtp:// URL of the server (plain text).
func (s *Server) URL() string { return "smtp://" + s.Addr + "?tls=none" }

// Messages returns a copy of the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Connections returns the number of connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	return &session{s: s, c: c}, nil
}

type session struct {
	s       *Server
	c       *smtp.Conn
	from    string
	to      []string
	perConn int
}

func (ss *session) act(a Action, e *smtp.SMTPError) error {
	switch a {
	case Reply:
		if e == nil {
			e = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "test fault"}
		}
		return e
	case Drop:
		ss.c.Conn().Close()
		return errors.New("dropped")
	case Stall:
		<-ss.s.stop
		return errors.New("stalled")
	}
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if h := ss.s.hooks.Mail; h != nil {
		if err := ss.act(h(ss.perConn)); err != nil {
			return err
		}
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	seen := ss.s.rcptSeen[to]
	ss.s.rcptSeen[to]++
	ss.s.mu.Unlock()
	if h := ss.s.hooks.Rcpt; h != nil {
		if err := ss.act(h(to, seen)); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	m := Message{From: ss.from, To: ss.to}
	// Read the headers first so that hooks know the Message-ID before the body.
	head := make([]byte, 4096)
	n, _ := io.ReadFull(r, head)
	buf.Write(head[:n])
	m.MessageID = messageID(buf.Bytes())
	ss.s.mu.Lock()
	offered := ss.s.offered[m.MessageID]
	ss.s.offered[m.MessageID]++
	ss.s.mu.Unlock()
	if h := ss.s.hooks.Data; h != nil {
		m.Data = buf.Bytes()
		a, e := h(m, offered)
		if a == Drop || a == Stall {
			return ss.act(a, e)
		}
		if _, err := io.Copy(&buf, r); err != nil {
			return err
		}
		if a == Reply {
			return ss.act(a, e)
		}
	} else if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	if !ss.s.hooks.Discard {
		m.Data = bytes.Clone(buf.Bytes())
	} else {
		m.Data = nil
	}
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, m)
	ss.s.mu.Unlock()
	ss.perConn++
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// messageID reads the Message-ID header from the start of a message.
func messageID(data []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		// headers cut by the 4 KiB read: parse what is there
		for _, line := range strings.Split(string(data), "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Message-ID") {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	return msg.Header.Get("Message-ID")
}

// WaitConnections waits until n connections were accepted or ctx ends.
func (s *Server) WaitConnections(ctx context.Context, n int) bool {
	for ctx.Err() == nil {
		if s.Connections() >= n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
