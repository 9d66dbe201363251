package mailer

import (
	"strings"
	"testing"
	"time"
)

// TestTokenRotation: tokens carry their key version; after a rotation the old
// version verifies until its Until, tokens without a version count as version 1, and
// a forged or altered token is ErrBadToken.
func TestTokenRotation(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	k1, k2 := []byte("first-secret-0123456789"), []byte("second-secret-0123456789")
	before := Unsubscribe{URL: "https://x.example/u?t={token}", Secret: k1}
	tok1 := before.Token(42)
	if !strings.HasPrefix(tok1, "42.1.") {
		t.Fatalf("token %q does not carry version 1", tok1)
	}
	legacy := Token(k1, 42)
	after := Unsubscribe{URL: before.URL, Secret: k2, Version: 2, Old: []TokenKey{{Version: 1, Secret: k1, Until: now.Add(30 * 24 * time.Hour)}}}
	tok2 := after.Token(42)
	if !strings.HasPrefix(tok2, "42.2.") {
		t.Fatalf("token %q does not carry version 2", tok2)
	}
	for _, c := range []struct {
		name string
		u    Unsubscribe
		tok  string
		at   time.Time
		ok   bool
	}{
		{"current key", after, tok2, now, true},
		{"old key within its time", after, tok1, now, true},
		{"legacy token is version 1", after, legacy, now, true},
		{"old key after its time", after, tok1, now.Add(31 * 24 * time.Hour), false},
		{"legacy after version 1's time", after, legacy, now.Add(31 * 24 * time.Hour), false},
		{"version 2 before the rotation", before, tok2, now, false},
		{"another member", after, "43" + tok2[2:], now, false},
		{"version changed", after, strings.Replace(tok2, ".2.", ".1.", 1), now, false},
		{"unknown version", after, strings.Replace(tok2, ".2.", ".7.", 1), now, false},
		{"leading zero version", after, strings.Replace(tok2, ".2.", ".02.", 1), now, false},
		{"garbage", after, "x.y.z", now, false},
		{"empty", after, "", now, false},
	} {
		id, err := c.u.Verify(c.tok, c.at)
		if c.ok && (err != nil || id != 42) {
			t.Errorf("%s: Verify = %d, %v; want 42", c.name, id, err)
		}
		if !c.ok && err != ErrBadToken {
			t.Errorf("%s: Verify = %d, %v; want ErrBadToken", c.name, id, err)
		}
	}
	if string(DeriveKey(k1, "unsubscribe")) == string(DeriveKey(k1, "download")) {
		t.Fatal("the unsubscribe and download keys are the same")
	}
}

func FuzzVerify(f *testing.F) {
	u := Unsubscribe{URL: "https://x.example/u?t={token}", Secret: []byte("0123456789abcdef-test-secret"), Version: 3}
	f.Add(u.Token(42))
	f.Add("42.3.")
	f.Add("42..abc")
	f.Add("-1.3.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := u.Verify(tok, time.Now())
		if err == nil && u.Token(id) != tok {
			t.Fatalf("accepted %q, which is not Token(%d) = %q", tok, id, u.Token(id))
		}
	})
}
