package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a private PostgreSQL 15 cluster for one test, for faults that must not
// touch the shared servers (killing the server mid-restore). Needs initdb/pg_ctl on PATH
// (make test puts /usr/lib/postgresql/15/bin there) and, when running as root, the
// postgres user (initdb refuses root).
type Postgres struct {
	DSN  string // superuser DSN, database postgres
	dir  string
	port int
	t    testing.TB
	cred *syscall.Credential
}

// StartPostgres creates and starts a throwaway cluster; it is stopped at test end.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		if Required() {
			t.Fatalf("initdb not on PATH although %s=1", EnvRequire)
		}
		t.Skip("initdb not on PATH: run `make test`")
	}
	p := &Postgres{t: t}
	base, err := os.MkdirTemp("", "lbpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	p.dir = filepath.Join(base, "data")
	pw := filepath.Join(base, "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o644)
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		os.Chmod(base, 0o755)
		os.Chown(base, uid, gid)
		os.Chown(pw, uid, gid)
	}
	p.port = freePort(t)
	p.run(initdb, "-D", p.dir, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--auth-host=scram-sha-256",
		"--auth-local=trust", "--pwfile="+pw, "--no-sync")
	p.DSN = fmt.Sprintf("postgres://postgres:secret@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	p.Start(t)
	t.Cleanup(func() { p.pgctl("stop", "-m", "immediate") })
	return p
}

func (p *Postgres) run(bin string, args ...string) {
	p.t.Helper()
	cmd := exec.Command(bin, args...)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
}

func (p *Postgres) pgctl(args ...string) error {
	bin, err := exec.LookPath("pg_ctl")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, append([]string{"-D", p.dir, "-w"}, args...)...)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %v: %s", args, err, out)
	}
	return nil
}

// Start (re)starts the server and waits until it accepts connections; failures go to t
// (the test or subtest calling it).
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off", p.port, filepath.Dir(p.dir))
	if err := p.pgctl("start", "-l", filepath.Join(filepath.Dir(p.dir), "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(p.dir), "log"))
		t.Fatalf("%v\n%s", err, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, p.DSN)
		if err == nil {
			c.Close(ctx)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("private PostgreSQL did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Restart stops the server (fast shutdown) and starts it again, to apply settings that
// need a restart (ALTER SYSTEM SET archive_mode …).
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	if err := p.pgctl("stop", "-m", "fast"); err != nil {
		t.Fatal(err)
	}
	p.Start(t)
}

// Owner gives path to the user the server runs as (the postgres user when tests run as
// root), so that commands the server runs (archive_command) can use it.
func (p *Postgres) Owner(t testing.TB, path string) {
	t.Helper()
	if p.cred == nil {
		return
	}
	if err := os.Chown(path, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
		t.Fatal(err)
	}
}

// Kill stops the server the hard way (SIGKILL to the postmaster and its children, as a
// crash or the OOM killer would) and waits until the port is closed.
func (p *Postgres) Kill() {
	b, err := os.ReadFile(filepath.Join(p.dir, "postmaster.pid"))
	if err != nil {
		return // not running
	}
	var pid int
	fmt.Sscanf(string(b), "%d", &pid)
	syscall.Kill(-pid, syscall.SIGKILL) // the postmaster's process group (pg_ctl starts it with setsid)
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100; i++ {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), 100*time.Millisecond); err != nil {
			break
		} else {
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Children orphaned by the SIGKILL exit on their own once they notice; give them a moment.
	time.Sleep(500 * time.Millisecond)
	// The dead postmaster may linger as a zombie when nothing reaps orphans in this
	// sandbox, and its pid would then look alive to the next start: the lock file is stale.
	os.Remove(filepath.Join(p.dir, "postmaster.pid"))
	sock := filepath.Join(filepath.Dir(p.dir), fmt.Sprintf(".s.PGSQL.%d", p.port))
	os.Remove(sock + ".lock")
	os.Remove(sock)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Log returns the server log (for test failure messages).
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(p.dir), "log"))
	return string(b)
}
