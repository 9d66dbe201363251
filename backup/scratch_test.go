package backup_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkagogo/linkbackup/backup"
)

// TestScratchLeftByAKilledProcessIsRemoved: a scratch recovery directory whose process
// was SIGKILLed before its cleanup is removed by the next one made under the same
// parent; the directory of a live process (another process, or this one) and a
// directory that is not linkbackup's are left alone.
func TestScratchLeftByAKilledProcessIsRemoved(t *testing.T) {
	if parent := os.Getenv("LINKBACKUP_TEST_SCRATCH_HOLD"); parent != "" { // the child
		base, _, err := backup.ScratchDataDir(parent, nil)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		os.WriteFile(filepath.Join(base, "data", "big"), make([]byte, 1<<20), 0o600)
		fmt.Println(base)
		time.Sleep(2 * time.Minute)
		os.Exit(0)
	}
	parent := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestScratchLeftByAKilledProcessIsRemoved$")
	child.Env = append(os.Environ(), "LINKBACKUP_TEST_SCRATCH_HOLD="+parent)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	held := strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(held, parent) {
		t.Fatalf("child: %q, %v", line, err)
	}
	foreign := filepath.Join(parent, "linkbackup-pitr-foreign")
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}

	mine, _, err := backup.ScratchDataDir(parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(held, "data", "big")); err != nil {
		t.Fatalf("the scratch of a live process was touched: %v", err)
	}
	child.Process.Kill()
	child.Wait()

	again, _, err := backup.ScratchDataDir(parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(held); !os.IsNotExist(err) {
		t.Fatalf("the killed process's scratch %s is still there: %v", held, err)
	}
	for _, d := range []string{mine, again, foreign} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s was removed: %v", d, err)
		}
	}
	backup.RemoveScratch(mine)
	backup.RemoveScratch(again)
	for _, d := range []string{mine, again} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("RemoveScratch left %s: %v", d, err)
		}
	}
}
