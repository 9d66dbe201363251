package backup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWALFeedRestoreCommand runs the feed's restore_command as PostgreSQL would (sh -c,
// %f and %p substituted): a delivered file is copied (exit 0); a name outside the plan
// is "not archived" at once (1); a planned file after the feed failed aborts recovery
// (254), and so does a planned file whose feeding process is gone, instead of waiting
// forever.
func TestWALFeedRestoreCommand(t *testing.T) {
	seg := "000000010000000000000003"
	setup := func(t *testing.T) (*walFeed, string) {
		dir := t.TempDir()
		f := &walFeed{dir: dir, plan: []string{seg, "000000010000000000000004"}, uid: -1, pid: os.Getpid()}
		if err := f.writeFile(".plan", strings.Join(f.plan, "\n")+"\n"); err != nil {
			t.Fatal(err)
		}
		return f, filepath.Join(t.TempDir(), "RECOVERYXLOG")
	}
	run := func(f *walFeed, name, dst string) int {
		cmd := strings.NewReplacer("%f", name, "%p", dst).Replace(f.restoreCommand())
		done := make(chan int, 1)
		go func() {
			err := exec.Command("sh", "-c", cmd).Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				code = -1
			}
			done <- code
		}()
		select {
		case c := <-done:
			return c
		case <-time.After(20 * time.Second):
			t.Fatalf("restore_command for %s still waiting after 20 s", name)
			return -1
		}
	}
	t.Run("delivered", func(t *testing.T) {
		f, dst := setup(t)
		os.WriteFile(filepath.Join(f.dir, seg), []byte("wal"), 0o600)
		if c := run(f, seg, dst); c != 0 {
			t.Fatalf("exit %d", c)
		}
		if b, _ := os.ReadFile(dst); string(b) != "wal" {
			t.Fatalf("copied %q", b)
		}
		if b, _ := os.ReadFile(filepath.Join(f.dir, ".asked")); strings.TrimSpace(string(b)) != seg {
			t.Fatalf(".asked %q", b)
		}
	})
	t.Run("not planned", func(t *testing.T) {
		f, dst := setup(t)
		if c := run(f, "00000002.history", dst); c != 1 {
			t.Fatalf("exit %d, want 1", c)
		}
	})
	t.Run("feed failed", func(t *testing.T) {
		f, dst := setup(t)
		f.writeFile(".error", "broken\n")
		f.writeFile(".end", "")
		if c := run(f, seg, dst); c != 254 {
			t.Fatalf("exit %d, want 254", c)
		}
	})
	t.Run("feed finished", func(t *testing.T) {
		f, dst := setup(t)
		f.writeFile(".end", "")
		if c := run(f, seg, dst); c != 1 {
			t.Fatalf("exit %d, want 1", c)
		}
	})
	t.Run("feeder gone", func(t *testing.T) {
		f, dst := setup(t)
		p := exec.Command("true")
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		f.pid = p.Process.Pid // exited and reaped: no /proc entry
		if c := run(f, seg, dst); c != 254 {
			t.Fatalf("exit %d, want 254", c)
		}
	})
}
