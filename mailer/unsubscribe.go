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
	"time"
)

// Unsubscribe makes the one-click unsubscribe URL of a member (RFC 8058): the https
// URL template with "{token}" replaced by an HMAC-signed member token. The web
// application verifies the token with VerifyToken and the same secret.
type Unsubscribe struct {
	// URL is an https URL containing "{token}", e.g.
	// https://linkagogo.com/unsubscribe/weekly?t={token}.
	URL string
	// Secret is the current key (at least 16 bytes); the tokens' HMAC key is derived
	// from it (DeriveKey, "unsubscribe"), as is the download links' ("download").
	Secret []byte
	// Version is the current key's version, carried in every token it makes (so the
	// secret can rotate). Default 1.
	Version int
	// Old are previous keys: their tokens still verify until their Until.
	Old []TokenKey
}

// TokenKey is a previous unsubscribe key.
type TokenKey struct {
	Version int
	Secret  []byte
	// Until: tokens of this version are refused after it (zero: never).
	Until time.Time
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

// Token returns a token of the first format, without a key version: "<member
// id>.<base64url HMAC-SHA256, 128 bits>" keyed by secret itself. Messages sent before
// key versions carry it; Unsubscribe.Verify accepts it as version 1.
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

// URLFor returns the unsubscribe URL of a member, with a token of the current key.
func (u Unsubscribe) URLFor(memberID int64) string {
	return strings.ReplaceAll(u.URL, "{token}", url.QueryEscape(u.Token(memberID)))
}

// DeriveKey returns the key for one purpose ("unsubscribe", "download") derived from
// secret, so that a key known for one use says nothing about another.
func DeriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("linkbackup key derivation/" + purpose))
	return m.Sum(nil)
}

func (u Unsubscribe) version() int { return max(u.Version, 1) }

// Token returns the member's token of the current key: "<member id>.<key
// version>.<base64url HMAC-SHA256, 128 bits>". Tokens do not expire by themselves
// (an old email's link must keep working); a key version does, when rotated out.
func (u Unsubscribe) Token(memberID int64) string {
	id := strconv.FormatInt(memberID, 10)
	v := strconv.Itoa(u.version())
	return id + "." + v + "." + base64.RawURLEncoding.EncodeToString(versionedMAC(u.Secret, id, v))
}

func versionedMAC(secret []byte, id, version string) []byte {
	m := hmac.New(sha256.New, DeriveKey(secret, "unsubscribe"))
	m.Write([]byte("linkbackup/unsubscribe/weekly/v2:" + id + "." + version))
	return m.Sum(nil)[:16]
}

// Verify returns the member id of a token made by Token with the current key or an
// old key still valid at now. A token without a version (made before versions,
// "<id>.<mac>", see the package function Token) is of version 1. Every failure is
// ErrBadToken, whatever was wrong.
func (u Unsubscribe) Verify(token string, now time.Time) (int64, error) {
	parts := strings.Split(token, ".")
	var version string
	switch len(parts) {
	case 2:
		version = "1"
	case 3:
		version = parts[1]
	default:
		return 0, ErrBadToken
	}
	v, err := strconv.Atoi(version)
	if err != nil || v < 1 || strconv.Itoa(v) != version {
		return 0, ErrBadToken
	}
	secret := u.secretOf(v, now)
	if secret == nil {
		return 0, ErrBadToken
	}
	if len(parts) == 2 {
		return VerifyToken(secret, token)
	}
	n, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != parts[0] {
		return 0, ErrBadToken
	}
	mac, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(mac, versionedMAC(secret, parts[0], version)) ||
		base64.RawURLEncoding.EncodeToString(mac) != parts[2] {
		return 0, ErrBadToken
	}
	return n, nil
}

// secretOf is the key of version v valid at now, or nil.
func (u Unsubscribe) secretOf(v int, now time.Time) []byte {
	if v == u.version() {
		return u.Secret
	}
	for _, k := range u.Old {
		if k.Version == v && (k.Until.IsZero() || now.Before(k.Until)) {
			return k.Secret
		}
	}
	return nil
}
