package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/internal/clihint"
)

// run executes the root command in-process and returns stdout, stderr (with the error
// main would print) and the exit code main would use.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetArgs(args)
	ctx := context.Background()
	err := root.ExecuteContext(ctx)
	if err != nil {
		errb.WriteString("\nerror: " + clihint.Message(err))
	}
	return out.String(), errb.String(), exitCode(ctx, err)
}

func TestConfigPrecedence(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfgFile, []byte("store: file:///from/file\nsource: postgres://u:filesecret@h/db\n"+
		"backup:\n  jobs: 7\n  split_table_mb: ${LB_TEST_SPLIT}\n"), 0o600)
	t.Setenv("LB_TEST_SPLIT", "99")
	t.Setenv("LINKBACKUP_BACKUP_JOBS", "5")
	out, errs, code := run(t, "config", "--config", cfgFile, "--store", "file:///from/flag")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"store: file:///from/flag", "jobs: 5", "split_table_mb: 99", "compression_level: 1",
		"source: postgres://u:**redacted**@h/db"} {
		if !strings.Contains(out, want) {
			t.Fatalf("effective config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "filesecret") {
		t.Fatalf("password printed:\n%s", out)
	}
}

func TestConfigErrorsAreUsageErrors(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfgFile, []byte("backup:\n  jobz: 3\n"), 0o600)
	_, errs, code := run(t, "config", "--config", cfgFile)
	if code != exitUsage || !strings.Contains(errs, "jobz") {
		t.Fatalf("unknown key: exit %d, %s", code, errs)
	}
	t.Setenv("LINKBACKUP_BACKUP_JOBS", "many")
	_, errs, code = run(t, "config")
	if code != exitUsage || !strings.Contains(errs, "LINKBACKUP_BACKUP_JOBS") {
		t.Fatalf("bad env: exit %d, %s", code, errs)
	}
	t.Setenv("LINKBACKUP_BACKUP_JOBS", "0")
	_, errs, code = run(t, "config")
	if code != exitUsage || !strings.Contains(errs, "backup.jobs") {
		t.Fatalf("out of range: exit %d, %s", code, errs)
	}
	os.Unsetenv("LINKBACKUP_BACKUP_JOBS")
	t.Setenv("LINKBACKUP_MAIL_RATE_SCOPE", "sometimes")
	_, errs, code = run(t, "worker", "--source", "postgres://127.0.0.1:1/x", "--mailer", "file://"+t.TempDir(), "--from", "a <a@b.test>")
	if code != exitUsage || !strings.Contains(errs, "mail.rate_scope") {
		t.Fatalf("bad rate scope: exit %d, %s", code, errs)
	}
	os.Unsetenv("LINKBACKUP_MAIL_RATE_SCOPE")
	_, errs, code = run(t, "backup", "--store", "file:///tmp/x")
	if code != exitUsage || !strings.Contains(errs, "--source") {
		t.Fatalf("missing source: exit %d, %s", code, errs)
	}
	_, errs, code = run(t, "backup", "--no-such-flag")
	if code != exitUsage {
		t.Fatalf("bad flag: exit %d, %s", code, errs)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	if s := Secret("x").String(); s != "**redacted**" {
		t.Fatal(s)
	}
	if s := DSN("host=h password='two words'").String(); s != "host=h password=**redacted**" {
		t.Fatal(s)
	}
}

// TestExtraArgsAreUsageErrors: every command (and an unknown one) refuses an extra positional argument with
// exit 2 (status with 3, UNKNOWN, since its monitors read 2 as CRITICAL), as --help says.
func TestExtraArgsAreUsageErrors(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	var paths [][]string
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		paths = append(paths, []string{c.Name()})
		for _, sub := range c.Commands() {
			paths = append(paths, []string{c.Name(), sub.Name()})
		}
	}
	if len(paths) < 13 {
		t.Fatalf("found %d commands, want at least 13", len(paths))
	}
	paths = append(paths, []string{"no-such-command"})
	for _, p := range paths {
		args := append(append([]string{}, p...), "extra1", "extra2", "extra3", "extra4")
		_, errs, code := run(t, args...)
		want := exitUsage
		if p[0] == "status" {
			want = exitPartial
		}
		if code != want {
			t.Fatalf("linkbackup %s with extra arguments: exit %d, want %d\n%s", strings.Join(args, " "), code, want, errs)
		}
	}
}
