package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// PgDumpVersion runs `bin --version` and returns its major version and full version.
func PgDumpVersion(ctx context.Context, bin string) (major int, full string, err error) {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return 0, "", fixable(FixPgDump, "", "run %s --version: %w", bin, err)
	}
	// "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	m := regexp.MustCompile(`\(PostgreSQL\) (\d+)(\.\d+)?`).FindStringSubmatch(string(out))
	if m == nil {
		return 0, "", fmt.Errorf("%s --version printed %q: not a pg_dump", bin, strings.TrimSpace(string(out)))
	}
	major, _ = strconv.Atoi(m[1])
	return major, strings.TrimSpace(strings.TrimPrefix(string(out), "pg_dump (PostgreSQL) ")), nil
}

// CheckPgDump returns an error that says what to install when pg_dump (major version
// dumpMajor) cannot dump a server of version serverNum (server_version_num).
func CheckPgDump(bin string, dumpMajor, serverNum int) error {
	serverMajor := serverNum / 10000
	if dumpMajor >= serverMajor {
		return nil
	}
	return fixable(FixPgDumpNewer, strconv.Itoa(serverMajor), "%s is version %d but the server is PostgreSQL %d: pg_dump cannot dump a newer server",
		bin, dumpMajor, serverMajor)
}

// pgDumpSchema runs pg_dump --schema-only for one section under an exported snapshot
// and streams its SQL into w. The password never goes into argv: it is passed as
// PGPASSWORD (a pgpass file or other libpq mechanisms keep working).
func pgDumpSchema(ctx context.Context, bin, dsn, password, snapshot, section string, excludeSchemas, excludeTables []QualName, w io.Writer) error {
	// Subscriptions never go into a snapshot (Excluded.Subscriptions).
	args := []string{"--schema-only", "--section=" + section, "--snapshot=" + snapshot, "--no-password", "--no-subscriptions"}
	for _, s := range excludeSchemas {
		args = append(args, "--exclude-schema="+quoteDumpPattern(s.Name))
	}
	for _, t := range excludeTables {
		args = append(args, "--exclude-table="+quoteDumpPattern(t.Schema)+"."+quoteDumpPattern(t.Name))
	}
	args = append(args, "--dbname="+dsn)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = os.Environ()
	if password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	}
	var stderr bytes.Buffer
	cmd.Stdout = w
	cmd.Stderr = &limitedBuffer{b: &stderr, max: 8 << 10}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_dump --section=%s: %w: %s", section, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// quoteDumpPattern makes a schema name literal for pg_dump's pattern syntax.
func quoteDumpPattern(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		if len(p) > room {
			l.b.Write(p[:room])
		} else {
			l.b.Write(p)
		}
	}
	return len(p), nil
}
