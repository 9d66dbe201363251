package smtptest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// MailpitMessage is one message as mailpit's API lists it.
type MailpitMessage struct {
	ID        string
	MessageID string
	To        []struct{ Name, Address string }
	Subject   string
	Size      int
}

// MailpitMessages lists every message in mailpit whose Message-ID ends with suffix
// (tests share one mailpit: give each test its own Message-ID domain).
func MailpitMessages(t testing.TB, api, suffix string) []MailpitMessage {
	t.Helper()
	var out []MailpitMessage
	for start := 0; ; start += 500 {
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/messages?start=%d&limit=500", api, start))
		if err != nil {
			t.Fatalf("mailpit: %v", err)
		}
		var page struct {
			Total    int
			Messages []MailpitMessage
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("mailpit: %v", err)
		}
		for _, m := range page.Messages {
			if strings.HasSuffix(m.MessageID, suffix) {
				out = append(out, m)
			}
		}
		if len(page.Messages) < 500 {
			return out
		}
	}
}

// MailpitRaw returns the source of message id as mailpit stored it.
func MailpitRaw(t testing.TB, api, id string) []byte {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/message/" + id + "/raw")
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit raw %s: %d %v", id, resp.StatusCode, err)
	}
	return b
}
