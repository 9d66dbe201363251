package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
)

// VersityGW is a private versitygw process started by a test, for fault injection
// (killing the server mid-upload, corrupting its files) that must not disturb the shared
// server of `make test`.
type VersityGW struct {
	S3 // Endpoint, AccessKey, SecretKey, Root

	t    testing.TB
	bin  string
	addr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  SyncBuffer
}

// StartVersityGW starts $LINKBACKUP_TEST_BIN_DIR/versitygw on a free 127.0.0.1 port with
// a fresh posix root and random root credentials, and stops it at test end. Without the
// binary the test fails under `make test` and is skipped otherwise.
func StartVersityGW(t testing.TB) *VersityGW {
	t.Helper()
	bin := filepath.Join(need(t, EnvBinDir), "versitygw")
	if _, err := os.Stat(bin); err != nil {
		if Required() {
			t.Fatalf("versitygw binary: %v (scripts/teststack.sh builds it)", err)
		}
		t.Skipf("versitygw binary: %v: run `make test`", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	g := &VersityGW{
		S3: S3{
			Endpoint:  "http://" + addr,
			AccessKey: "test" + randHex(8),
			SecretKey: randHex(20),
			Root:      filepath.Join(t.TempDir(), "versitygw"),
		},
		t: t, bin: bin, addr: addr,
	}
	if err := os.MkdirAll(g.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Kill()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", g.log.String())
		}
	})
	g.start()
	return g
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (g *VersityGW) start() {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd != nil {
		g.t.Fatal("versitygw is already running")
	}
	cmd := exec.Command(g.bin, "--port", g.addr, "-q", "posix", g.Root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.AccessKey, "ROOT_SECRET_KEY="+g.SecretKey)
	cmd.Stdout, cmd.Stderr = &g.log, &g.log
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("start versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	g.cmd, g.done = cmd, done
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", g.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			g.cmd = nil
			g.t.Fatalf("versitygw exited at start: %s\n%s", cmd.ProcessState, g.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("versitygw not listening on %s after 15s:\n%s", g.addr, g.log.String())
		}
	}
}

// Kill stops the server at once (SIGKILL), as a crash would; a no-op if stopped.
func (g *VersityGW) Kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Kill()
	<-g.done
	g.cmd = nil
}

// Restart kills the server if running and starts it again on the same port and root.
func (g *VersityGW) Restart() {
	g.t.Helper()
	g.Kill()
	g.start()
}

// PID returns the server's process id, or 0 when stopped.
func (g *VersityGW) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes (server logs, slog output).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Client returns a path-style S3 client for s (region us-east-1).
func (s S3) Client() *s3api.Client {
	return s3api.New(s3api.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// NewBucket creates a bucket with a unique name ("lbt-<hex>") on s and returns its name.
// It is left in place at test end: the server's root is temporary.
func NewBucket(t testing.TB, s S3) string {
	t.Helper()
	name := UniqueName("lbt")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3api.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s at %s: %v", name, s.Endpoint, err)
	}
	return name
}
