package mailer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Unsubscribe makes the one-click unsubscribe URL of a member (RFC 8058): the https
// URL template with "{token}" replaced by an HMAC-signed member token. The web
// application verifies the token with VerifyToken and the same secret.
type Unsubscribe struct {
	// URL is an https URL containing "{token}", e.g.
	// https://linkagogo.com/unsubscribe/weekly?t={token}.
	URL string
	// Secret keys the HMAC (at least 16 bytes).
	Secret []byte
}

// ErrBadToken is returned by VerifyToken for a token that was not made with the secret.
var ErrBadToken = errors.New("mailer: bad unsubscribe token")

const tokenPurpose = "linkbackup/unsubscribe/weekly/v1:"

// Validate checks the template and the secret.
func (u Unsubscribe) Validate() error {
	if len(u.Secret) < 16 {
		return errors.New("mailer: unsubscribe secret: want at least 16 bytes")
	}
	if !strings.Contains(u.URL, "{token}") {
		return fmt.Errorf("mailer: unsubscribe url %q: must contain {token}", u.URL)
	}
	p, err := url.Parse(strings.ReplaceAll(u.URL, "{token}", "x"))
	if err != nil || p.Scheme != "https" || p.Host == "" {
		return fmt.Errorf("mailer: unsubscribe url %q: want an https:// URL (RFC 8058)", u.URL)
	}
	return nil
}

// Token returns "<member id>.<base64url HMAC-SHA256, 128 bits>": it names the member
// and cannot be forged without the secret. It does not expire (an old email's link
// must still work).
func Token(secret []byte, memberID int64) string {
	id := strconv.FormatInt(memberID, 10)
	return id + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(secret, id))
}

func tokenMAC(secret []byte, id string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tokenPurpose))
	m.Write([]byte(id))
	return m.Sum(nil)[:16]
}

// VerifyToken returns the member id of a token made by Token with secret.
func VerifyToken(secret []byte, token string) (int64, error) {
	id, sig, ok := strings.Cut(token, ".")
	if !ok || id == "" || len(id) > 20 {
		return 0, ErrBadToken
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != id {
		return 0, ErrBadToken
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, id)) {
		return 0, ErrBadToken
	}
	return n, nil
}

// URLFor returns the unsubscribe URL of a member.
func (u Unsubscribe) URLFor(memberID int64) string {
	return strings.ReplaceAll(u.URL, "{token}", url.QueryEscape(Token(u.Secret, memberID)))
}
