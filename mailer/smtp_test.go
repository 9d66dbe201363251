package mailer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/wneessen/go-mail"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/internal/testenv"
	"github.com/linkagogo/linkbackup/mailer/smtptest"
)

// message returns a weekly message for member id.
func message(t testing.TB, c *Composer, id int64, email string) *mail.Msg {
	t.Helper()
	w := testWeekly(bytes.Repeat([]byte{0x50, 0x4b, 1, 2, 3}, 4000)) // 20 kB "zip"
	w.Member = export.Member{ID: id, Email: email, DisplayName: fmt.Sprintf("Member %d", id)}
	m, err := c.Weekly(w)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newSMTP(t testing.TB, raw string, mod func(*SMTPConfig)) *SMTP {
	t.Helper()
	cfg, err := ParseSMTPURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestParseSMTPURL(t *testing.T) {
	c, err := ParseSMTPURL("smtp://user:p%40ss@mail.example:2525?tls=tls&timeout=5s&connections=2")
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "mail.example" || c.Port != 2525 || c.TLS != TLSImplicit || c.Username != "user" || c.Password != "p@ss" || c.Timeout != 5*time.Second || c.Connections != 2 {
		t.Fatalf("%+v", c)
	}
	if c, _ := ParseSMTPURL("smtp://mail.example"); c.Port != 587 || c.TLS != TLSStartTLS {
		t.Fatalf("defaults: %+v", c)
	}
	for _, bad := range []string{"smtps://x", "smtp://x?tls=maybe", "smtp://x?bogus=1", "smtp://x:99999", "smtp:///path"} {
		if _, err := ParseSMTPURL(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	s := newSMTP(t, "smtp://user:secret@mail.example?tls=none", nil)
	if strings.Contains(s.String(), "secret") {
		t.Fatalf("String() shows the password: %s", s)
	}
	if _, err := Open("http://x", "", 0); err == nil {
		t.Fatal("http transport accepted")
	}
}

// TestSMTPPoolReusesConnections sends 40 messages from 8 goroutines through a pool of
// 2: at most 2 connections are opened.
func TestSMTPPoolReusesConnections(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Hooks{})
	s := newSMTP(t, srv.URL(), func(c *SMTPConfig) { c.Connections = 2 })
	c := testComposer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				id := int64(g*5 + i + 1)
				res, err := s.Send(context.Background(), message(t, c, id, fmt.Sprintf("m%d@example.org", id)))
				if err == nil && res.Size < 20000 {
					err = fmt.Errorf("size %d", res.Size)
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(srv.Messages()); n != 40 {
		t.Fatalf("%d messages arrived, want 40", n)
	}
	if d := s.Dials(); d > 2 || srv.Connections() > 2 {
		t.Fatalf("%d dials, %d server connections: want at most 2", d, srv.Connections())
	}
}

// TestSMTPFaults checks how each server fault is classified.
func TestSMTPFaults(t *testing.T) {
	c := testComposer(t)
	rej := func(code int, msg string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: msg}
	}
	cases := []struct {
		name      string
		hooks     smtptest.Hooks
		permanent bool
		code      int
		stage     Stage
	}{
		{"421 at MAIL", smtptest.Hooks{Mail: func(int) (smtptest.Action, *smtp.SMTPError) {
			return smtptest.Reply, rej(421, "too many messages, closing")
		}}, false, 421, StageMail},
		{"451 at RCPT", smtptest.Hooks{Rcpt: func(string, int) (smtptest.Action, *smtp.SMTPError) {
			return smtptest.Reply, rej(451, "greylisted")
		}}, false, 451, StageRcpt},
		{"550 at RCPT", smtptest.Hooks{Rcpt: func(string, int) (smtptest.Action, *smtp.SMTPError) {
			return smtptest.Reply, rej(550, "no such user")
		}}, true, 550, StageRcpt},
		{"552 after DATA", smtptest.Hooks{Data: func(smtptest.Message, int) (smtptest.Action, *smtp.SMTPError) {
			return smtptest.Reply, rej(552, "message too large")
		}}, true, 552, StageDot},
		{"dropped mid-DATA", smtptest.Hooks{Data: func(smtptest.Message, int) (smtptest.Action, *smtp.SMTPError) {
			return smtptest.Drop, nil
		}}, false, 0, ""},
		{"stall in DATA", smtptest.Hooks{Data: func(smtptest.Message, int) (smtptest.Action, *smtp.SMTPError) {
			return smtptest.Stall, nil
		}}, false, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.hooks)
			s := newSMTP(t, srv.URL(), func(c *SMTPConfig) { c.Timeout = time.Second })
			start := time.Now()
			_, err := s.Send(context.Background(), message(t, c, 1, "one@example.org"))
			se, ok := err.(*SendError)
			if !ok {
				t.Fatalf("err %T %v, want *SendError", err, err)
			}
			if se.Permanent() != tc.permanent || se.Code != tc.code || tc.stage != "" && se.Stage != tc.stage {
				t.Fatalf("got stage %s code %d permanent %v (%v); want stage %s code %d permanent %v", se.Stage, se.Code, se.Permanent(), err, tc.stage, tc.code, tc.permanent)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %s: the timeout does not bound a stalled server", time.Since(start))
			}
			if len(srv.Messages()) != 0 {
				t.Fatal("a failed message was stored")
			}
			t.Logf("%s -> %s", tc.name, ReplyOf(err))
		})
	}
}

// TestSMTPCancelStalledSend: cancelling the context aborts a send stuck on a server
// that stopped answering, long before the timeout.
func TestSMTPCancelStalledSend(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Hooks{Data: func(smtptest.Message, int) (smtptest.Action, *smtp.SMTPError) {
		return smtptest.Stall, nil
	}})
	s := newSMTP(t, srv.URL(), func(c *SMTPConfig) { c.Timeout = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Send(ctx, message(t, testComposer(t), 1, "one@example.org"))
	if err == nil || IsPermanent(err) {
		t.Fatalf("err %v, want a temporary error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancelled send returned after %s", d)
	}
}

// TestSMTPReconnectsAfterServerDrop: a pooled connection the server closed while idle
// is replaced without failing the send.
func TestSMTPReconnectsAfterServerDrop(t *testing.T) {
	var mu sync.Mutex
	dropNext := false
	srv := smtptest.Start(t, smtptest.Hooks{Mail: func(perConn int) (smtptest.Action, *smtp.SMTPError) {
		mu.Lock()
		defer mu.Unlock()
		if dropNext && perConn > 0 {
			dropNext = false
			return smtptest.Drop, nil
		}
		return smtptest.Accept, nil
	}})
	s := newSMTP(t, srv.URL(), func(c *SMTPConfig) { c.Connections = 1 })
	c := testComposer(t)
	if _, err := s.Send(context.Background(), message(t, c, 1, "a@example.org")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	dropNext = true
	mu.Unlock()
	if _, err := s.Send(context.Background(), message(t, c, 2, "b@example.org")); err != nil {
		t.Fatalf("send after the server dropped the idle connection: %v", err)
	}
	if len(srv.Messages()) != 2 || s.Dials() != 2 {
		t.Fatalf("%d messages, %d dials", len(srv.Messages()), s.Dials())
	}
}

func TestFileTransport(t *testing.T) {
	dir := t.TempDir()
	tr, err := Open("file://"+dir, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := testComposer(t)
	for i := 0; i < 2; i++ { // twice: same file
		if _, err := tr.Send(context.Background(), message(t, c, 7, "seven@example.org")); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "weekly-backup.7.2026-W48@linkagogo.example.eml" {
		t.Fatalf("outbox holds %v", ents)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ents[0].Name()))
	p := parse(t, raw)
	if len(p.Attachments["bookmarks-2026-W48.zip"]) != 20000 {
		t.Fatal("attachment missing from the .eml")
	}
}

// TestMailpitDelivery sends a DKIM-signed message through the real mailpit and
// verifies the signature on the raw message mailpit stored.
func TestMailpitDelivery(t *testing.T) {
	smtpAddr, api := testenv.Mailpit(t)
	k := dkimKeys(t)["rsa"]
	c := testComposer(t)
	c.DKIM = &DKIM{Domain: "linkagogo.example", Selector: "sel1", Key: k.key}
	to := testenv.UniqueName("mp") + "@example.org"
	s := newSMTP(t, "smtp://"+smtpAddr+"?tls=none", nil)
	res, err := s.Send(context.Background(), message(t, c, 99, to))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mailpit replied %q, %d bytes", res.Reply, res.Size)
	raw := mailpitRaw(t, api, to)
	if _, err := verifyDKIM(raw, k.txt); err != nil {
		t.Fatalf("DKIM of the message mailpit received: %v", err)
	}
	p := parse(t, raw)
	if p.Header.Get("List-Unsubscribe-Post") == "" || len(p.Attachments["bookmarks-2026-W48.zip"]) != 20000 {
		t.Fatal("headers or attachment lost on the way")
	}
}

// mailpitRaw returns the raw source of the one message mailpit holds for rcpt.
func mailpitRaw(t testing.TB, api, rcpt string) []byte {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/search?query=" + "to:" + rcpt)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Messages []struct{ ID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Messages) != 1 {
		t.Fatalf("mailpit holds %d messages for %s, want 1", len(list.Messages), rcpt)
	}
	r, err := http.Get(api + "/api/v1/message/" + list.Messages[0].ID + "/raw")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	raw, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("raw: %d %v", r.StatusCode, err)
	}
	return raw
}
