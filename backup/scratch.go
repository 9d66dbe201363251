package backup

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// Scratch directories (a point-in-time recovery's cluster, a WAL feed's spool) can be
// as large as the database. Each holds an exclusive flock on its lock file for as long
// as the process that made it lives (the descriptor is close-on-exec: a server started
// from it does not inherit the lock). A process killed before its cleanup leaves the
// directory behind; the next one that makes a directory of the same kind under the same
// parent removes every such directory whose lock it can take, because its owner is
// gone, after stopping a server still running in its data directory. Directories of a
// live process are never touched.

const scratchLock = ".linkbackup.lock"

var scratchLocks sync.Map // directory -> *os.File holding its lock

// makeScratch sweeps parent ("" = the system's temp directory) for abandoned
// directories named like pattern (os.MkdirTemp's), then makes a new one and locks it.
func makeScratch(parent, pattern string, log *slog.Logger) (string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	sweepScratch(parent, pattern, log)
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(dir, scratchLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("lock the scratch directory %s: %w", dir, err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	scratchLocks.Store(dir, f)
	return dir, nil
}

// RemoveScratch removes a directory made by ScratchDataDir (or a WAL feed) and releases
// its lock.
func RemoveScratch(dir string) {
	os.RemoveAll(dir)
	if f, ok := scratchLocks.LoadAndDelete(dir); ok {
		f.(*os.File).Close()
	}
}

// sweepScratch removes parent's directories named like pattern whose lock no live
// process holds.
func sweepScratch(parent, pattern string, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dirs, _ := filepath.Glob(filepath.Join(parent, pattern+"*"))
	for _, dir := range dirs {
		if _, mine := scratchLocks.Load(dir); mine {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, scratchLock), os.O_RDWR, 0)
		if err != nil {
			continue // not one of ours, or made before scratch directories were locked
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // its process is alive
			continue
		}
		data := filepath.Join(dir, "data")
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
			if err := StopRecovered(data); err != nil && !errors.Is(err, os.ErrNotExist) {
				log.Warn("stopping the server of an abandoned scratch recovery", "dir", dir, "err", err)
			}
		}
		err = os.RemoveAll(dir)
		f.Close()
		if err != nil {
			log.Warn("cannot remove an abandoned scratch directory", "dir", dir, "err", err)
			continue
		}
		log.Info("removed a scratch directory left by a process that was killed", "dir", dir)
	}
}

// ScratchDataDir makes an empty data directory for a temporary recovery under parent
// ("" = the system's temp directory), owned by the postgres user when running as root
// (PostgreSQL never runs as root), after removing those that killed runs left there.
// The caller removes base with RemoveScratch.
func ScratchDataDir(parent string, log *slog.Logger) (base, dir string, err error) {
	base, err = makeScratch(parent, "linkbackup-pitr-", log)
	if err != nil {
		return "", "", err
	}
	dir = filepath.Join(base, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		RemoveScratch(base)
		return "", "", err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			RemoveScratch(base)
			return "", "", fmt.Errorf("a temporary recovery as root needs the postgres user to run the server: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chmod(base, 0o755)
		if err := os.Chown(dir, uid, gid); err != nil {
			RemoveScratch(base)
			return "", "", err
		}
	}
	return base, dir, nil
}
