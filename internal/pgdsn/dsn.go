// Package pgdsn hides the secrets of PostgreSQL connection strings, in both forms libpq
// accepts: URLs (postgres://user:secret@host/db?sslpassword=…) and key=value lists
// (host=h password='a secret' …, values single-quoted with backslash escapes). The
// secrets are password and sslpassword; everything else is kept as written.
package pgdsn

import (
	"net/url"
	"strings"
)

// Mask replaces secrets in Redact's output.
const Mask = "**redacted**"

// secret tells whether a connection parameter holds a secret.
func secret(key string) bool { return key == "password" || key == "sslpassword" }

// Redact returns dsn with every secret value replaced by Mask, for messages and
// `linkbackup config`. A URL that does not parse is replaced whole.
func Redact(dsn string) string { return rewrite(dsn, true) }

// Strip returns dsn without its secrets, for the argv of child processes (which get the
// password another way) and for messages. A URL that does not parse becomes "".
func Strip(dsn string) string { return rewrite(dsn, false) }

func rewrite(dsn string, mask bool) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return rewriteURL(dsn, mask)
	}
	return rewriteKV(dsn, mask)
}

func rewriteURL(dsn string, mask bool) string {
	u, err := url.Parse(dsn)
	if err != nil {
		if mask {
			return "**unparsable dsn redacted**"
		}
		return ""
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok && mask {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else {
			u.User = url.User(u.User.Username())
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if secret(k) {
				changed = true
				if mask {
					q.Set(k, Mask)
				} else {
					q.Del(k)
				}
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	// url.String escapes the mask's asterisks in the user info.
	return strings.Replace(u.String(), url.UserPassword("", Mask).String()[1:], Mask, 1)
}

// rewriteKV walks a key=value list the way libpq parses it and keeps every byte of it
// except the values of secrets (masked, or removed together with their key).
func rewriteKV(dsn string, mask bool) string {
	var out strings.Builder
	i, n := 0, len(dsn)
	for i < n {
		// Whitespace between pairs is kept as it is.
		start := i
		for i < n && isSpace(dsn[i]) {
			i++
		}
		ws := dsn[start:i]
		if i >= n {
			out.WriteString(ws)
			break
		}
		keyStart := i
		for i < n && dsn[i] != '=' && !isSpace(dsn[i]) {
			i++
		}
		key := dsn[keyStart:i]
		for i < n && isSpace(dsn[i]) {
			i++
		}
		if i >= n || dsn[i] != '=' {
			// Not a key=value pair (libpq refuses it); keep it as written.
			out.WriteString(ws + dsn[keyStart:i])
			continue
		}
		i++ // '='
		for i < n && isSpace(dsn[i]) {
			i++
		}
		valueStart := i
		i = valueEnd(dsn, i)
		if !secret(key) {
			out.WriteString(ws + dsn[keyStart:i])
			continue
		}
		if mask {
			out.WriteString(ws + dsn[keyStart:valueStart] + Mask)
		}
	}
	if mask {
		return out.String()
	}
	return strings.TrimSpace(out.String())
}

// valueEnd returns the index just past the value that starts at i: a single-quoted
// value up to its closing quote, else up to the next unescaped whitespace.
func valueEnd(s string, i int) int {
	n := len(s)
	if i < n && s[i] == '\'' {
		for i++; i < n; i++ {
			switch s[i] {
			case '\\':
				i++
			case '\'':
				return i + 1
			}
		}
		return n
	}
	for ; i < n && !isSpace(s[i]); i++ {
		if s[i] == '\\' {
			i++
		}
	}
	if i > n {
		return n
	}
	return i
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
