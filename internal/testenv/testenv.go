// Package testenv connects tests to the real servers that `make test` starts
// (scripts/teststack.sh): two PostgreSQL 15 clusters (primary, standby), versitygw (S3)
// and mailpit (SMTP + JSON API).
//
// The servers are announced through environment variables. When LINKBACKUP_TEST_REQUIRE=1
// (set by `make test`), a missing or unreachable server FAILS the test; otherwise (a plain
// `go test ./...` on a laptop) the test is skipped with a message that says to run
// `make test`.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/internal/pgdsn"

	"github.com/linkagogo/linkbackup/internal/bookmarkgen"

	"github.com/jackc/pgx/v5"
)

// Environment variables written by scripts/teststack.sh.
const (
	EnvRequire   = "LINKBACKUP_TEST_REQUIRE"    // "1": missing servers fail tests
	EnvPGPrimary = "LINKBACKUP_TEST_PG_PRIMARY" // superuser DSN of the primary cluster
	EnvPGStandby = "LINKBACKUP_TEST_PG_STANDBY" // superuser DSN of the standby cluster
	EnvS3        = "LINKBACKUP_TEST_S3"         // versitygw endpoint, http://127.0.0.1:PORT
	EnvS3Key     = "LINKBACKUP_TEST_S3_ACCESS_KEY"
	EnvS3Secret  = "LINKBACKUP_TEST_S3_SECRET_KEY"
	EnvS3Root    = "LINKBACKUP_TEST_S3_ROOT" // versitygw's posix directory (bucket = subdir)
	EnvSMTP      = "LINKBACKUP_TEST_SMTP"    // mailpit SMTP, 127.0.0.1:PORT
	EnvMailpit   = "LINKBACKUP_TEST_MAILPIT" // mailpit API base, http://127.0.0.1:PORT
	EnvBinDir    = "LINKBACKUP_TEST_BIN_DIR" // dir holding versitygw and mailpit binaries
	// EnvWALStore is the store the primary archives its WAL into (linkbackup wal-push).
	EnvWALStore = "LINKBACKUP_TEST_WAL_STORE"
)

// Required reports whether missing servers must fail tests.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// need returns the value of env var name or stops the test: Fatal under make test, Skip otherwise.
func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s is not set although %s=1: the test stack did not start (see scripts/teststack.sh)", name, EnvRequire)
	}
	t.Skipf("%s not set: run `make test` to start the real servers", name)
	return ""
}

// Lookup returns env var name without failing or skipping.
func Lookup(name string) string { return os.Getenv(name) }

// Env returns the value of one of the variables above, failing (make test) or skipping.
func Env(t testing.TB, name string) string { t.Helper(); return need(t, name) }

// PrimaryDSN returns the superuser DSN of the primary cluster (database "postgres").
func PrimaryDSN(t testing.TB) string { t.Helper(); return pingPG(t, need(t, EnvPGPrimary)) }

// StandbyDSN returns the superuser DSN of the standby cluster (database "postgres").
func StandbyDSN(t testing.TB) string { t.Helper(); return pingPG(t, need(t, EnvPGStandby)) }

func pingPG(t testing.TB, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("cannot reach the test PostgreSQL: %v", err)
	}
	c.Close(ctx)
	return dsn
}

// S3 describes the real S3 server.
type S3 struct {
	Endpoint, AccessKey, SecretKey string
	Root                           string // posix root: <Root>/<bucket>/<key> are plain files
}

// S3Server returns the versitygw server, checking that it accepts TCP connections.
func S3Server(t testing.TB) S3 {
	t.Helper()
	s := S3{Endpoint: need(t, EnvS3), AccessKey: need(t, EnvS3Key), SecretKey: need(t, EnvS3Secret), Root: os.Getenv(EnvS3Root)}
	dialOrFail(t, s.Endpoint)
	return s
}

// Mailpit returns the SMTP address and API base of mailpit.
func Mailpit(t testing.TB) (smtpAddr, api string) {
	t.Helper()
	smtpAddr, api = need(t, EnvSMTP), need(t, EnvMailpit)
	dialOrFail(t, api)
	return smtpAddr, api
}

func dialOrFail(t testing.TB, endpoint string) {
	t.Helper()
	host := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = u.Host
	}
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatalf("cannot reach test server %s: %v", endpoint, err)
	}
	c.Close()
}

// UniqueName returns a lower-case identifier safe for database and bucket names.
func UniqueName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return strings.ToLower(prefix) + "-" + hex.EncodeToString(b)
}

// NewDatabase creates an empty database on the cluster behind serverDSN, dropped at test
// end, and returns a DSN for it. Database names use underscores: lbt_<hex>.
func NewDatabase(t testing.TB, serverDSN string) string {
	t.Helper()
	name := strings.ReplaceAll(UniqueName("lbt"), "-", "_")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, serverDSN)
	if err != nil {
		t.Fatalf("connect %s: %v", pgdsn.Redact(serverDSN), err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, serverDSN)
		if err != nil {
			t.Logf("cleanup: connect: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("cleanup: drop database %s: %v", name, err)
		}
	})
	return WithDatabase(t, serverDSN, name)
}

// WithDatabase returns serverDSN pointing at database name.
func WithDatabase(t testing.TB, serverDSN, name string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(serverDSN)
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(cfg.User, cfg.Password),
		Host: fmt.Sprintf("%s:%d", cfg.Host, cfg.Port), Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// BookmarkDB creates a fresh database on the primary (dropped at test end) holding the
// reference bookmark schema and the data bookmarkgen generates with o; it returns the
// database's DSN and the generator's figures.
func BookmarkDB(t testing.TB, o bookmarkgen.Options) (string, bookmarkgen.Stats) {
	t.Helper()
	dsn := NewDatabase(t, PrimaryDSN(t))
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := bookmarkgen.LoadSchema(ctx, c); err != nil {
		t.Fatal(err)
	}
	st, err := bookmarkgen.Generate(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	return dsn, st
}
