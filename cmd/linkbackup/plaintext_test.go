package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestPlaintextTransportsAreWarnedOnce(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(slog.NewTextHandler(&b, nil))
	for _, dsn := range []string{
		"postgres://u:secretpw@db.example.net/x?sslmode=disable", // warned
		"postgres://u:secretpw@db.example.net/x?sslmode=disable", // the same host: once
		"postgres://u@db2.example.net/x",                         // libpq's default prefer: plain text possible
		"postgres://u@127.0.0.1/x?sslmode=disable",               // loopback: fine
		"host=/var/run/postgresql dbname=x",                      // Unix socket: fine
		"postgres://u@db3.example.net/x?sslmode=verify-full",     // fine
	} {
		warnPlaintextDSN(log, "source", dsn)
	}
	warnPlaintextStore(log, "s3://b/p?endpoint=http://s3.example.net:9000")
	warnPlaintextStore(log, "s3://b/p?endpoint=http://127.0.0.1:7070")
	warnPlaintextSMTP(log, "smtp://u@mail.example.net:25?tls=none", true)
	warnPlaintextSMTP(log, "smtp://127.0.0.1:1025?tls=none", true)
	out := b.String()
	for want, n := range map[string]int{"db.example.net": 1, "db2.example.net": 1, "db3.example.net": 0, "127.0.0.1": 0,
		"s3.example.net": 1, "mail.example.net": 1, "/var/run": 0} {
		if got := strings.Count(out, want); got != n {
			t.Errorf("%s warned %d times, want %d:\n%s", want, got, n, out)
		}
	}
	if strings.Contains(out, "secretpw") {
		t.Fatalf("a password in the log:\n%s", out)
	}
}
