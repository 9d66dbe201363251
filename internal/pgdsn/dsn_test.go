package pgdsn_test

import (
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

func TestRedactAndStrip(t *testing.T) {
	for _, c := range []struct{ in, redact, strip string }{
		{"postgres://u:p%40ss@h:5432/db?sslmode=disable",
			"postgres://u:**redacted**@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://u:pw@h/db", "postgresql://u:**redacted**@h/db", "postgresql://u@h/db"},
		{"postgres://h/db?password=sekret&user=u", "postgres://h/db?password=**redacted**&user=u", "postgres://h/db?user=u"},
		{"postgres://u@h/db?sslpassword=keypw&sslmode=require",
			"postgres://u@h/db?sslmode=require&sslpassword=**redacted**", "postgres://u@h/db?sslmode=require"},
		{"postgres://u@h/db", "postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://u:pw@h:99999999999x/db", "**unparsable dsn redacted**", ""},
		{"host=h password=sekret dbname=db", "host=h password=**redacted** dbname=db", "host=h dbname=db"},
		// A quoted password with spaces: nothing of it may leak.
		{"host=h password='tail of secret' dbname=db", "host=h password=**redacted** dbname=db", "host=h dbname=db"},
		{`password='it\'s tail' host=h`, "password=**redacted** host=h", "host=h"},
		{`host=h password=esc\ aped dbname=db`, "host=h password=**redacted** dbname=db", "host=h dbname=db"},
		{"host=h password = 'spaced out' user=u", "host=h password = **redacted** user=u", "host=h user=u"},
		{"host=h sslpassword='key pass' sslkey=/k", "host=h sslpassword=**redacted** sslkey=/k", "host=h sslkey=/k"},
		{"host=h\tpassword=x\tdbname=d", "host=h\tpassword=**redacted**\tdbname=d", "host=h\tdbname=d"},
		{"host=h application_name='a password=no' dbname=d", "host=h application_name='a password=no' dbname=d",
			"host=h application_name='a password=no' dbname=d"},
		{"password='unterminated tail", "password=**redacted**", ""},
		{"", "", ""},
	} {
		if got := pgdsn.Redact(c.in); got != c.redact {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.redact)
		}
		if got := pgdsn.Strip(c.in); got != c.strip {
			t.Errorf("Strip(%q) = %q, want %q", c.in, got, c.strip)
		}
		for _, secret := range []string{"sekret", "tail", "secret", "keypw", "aped", "spaced", "key pass", "p%40ss"} {
			if strings.Contains(c.in, secret) && !strings.Contains(c.in, "password=no") {
				if strings.Contains(pgdsn.Redact(c.in), secret) || strings.Contains(pgdsn.Strip(c.in), secret) {
					t.Errorf("%q: %q leaks", c.in, secret)
				}
			}
		}
	}
}
