package mailer

import (
	"context"
	"errors"
	"net"
	"net/textproto"
	"time"
)

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
