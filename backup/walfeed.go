package backup

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// A walFeed serves a recovery that this process watches (StartRecovered) from a spool
// directory it keeps filled a few segments ahead of replay: the recovered server's
// restore_command only copies a file from there. So the server, which runs as the data
// directory's owner, needs neither the keys nor access to the store (a root run keeps
// both to itself), and fetching, checking and decrypting the next segments overlaps
// with replay.
//
// The spool holds .plan (every file the feed will deliver, one name a line), the
// files themselves (renamed into place when whole), .asked (the last name the server
// asked for; segments before it are deleted) and .end once the feed has finished or
// failed (.error then says why). A name not in the plan is "not found" at once.
type walFeed struct {
	dir   string
	plan  []string // history files first, then segments in order
	first uint64   // the plan's first segment number
	ahead int
	uid   int
	gid   int
	pid   int // the feeding process: restore_command gives up when it is gone

	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// feedAhead is how many segments the feed keeps ready beyond the one replay asked for.
const feedAhead = 4

// newWALFeed plans the files a recovery from segment first up to segment last (both
// included; same timeline) needs, plus every archived timeline history file, in a new
// spool directory owned by uid:gid.
func newWALFeed(ctx context.Context, st Store, first, last string, uid, gid int, log *slog.Logger) (*walFeed, error) {
	tl, a, ok1 := segmentNumber(first)
	_, b, ok2 := segmentNumber(last)
	if !ok1 || !ok2 || b < a {
		return nil, fmt.Errorf("WAL feed: bad segment range %s..%s", first, last)
	}
	f := &walFeed{ahead: feedAhead, uid: uid, gid: gid, pid: os.Getpid()}
	hist, err := st.List(ctx, WALPrefix+"history/")
	if err != nil {
		return nil, fmt.Errorf("list the WAL archive's history files: %w", err)
	}
	for _, o := range hist {
		if name, ok := strings.CutSuffix(path.Base(o.Key), ".json"); ok && strings.HasSuffix(name, ".history") {
			f.plan = append(f.plan, name)
		}
	}
	for n := a; n <= b; n++ {
		f.plan = append(f.plan, segmentName(tl, n))
	}
	f.first = a
	if f.dir, err = makeScratch("", "linkbackup-walfeed-", log); err != nil {
		return nil, err
	}
	if err := f.writeFile(".plan", strings.Join(f.plan, "\n")+"\n"); err != nil {
		RemoveScratch(f.dir)
		return nil, err
	}
	if uid >= 0 {
		os.Chown(f.dir, uid, gid)
	}
	return f, nil
}

// restoreCommand is the restore_command that takes files from the spool.
func (f *walFeed) restoreCommand() string {
	d := ShellQuote(f.dir)
	// Exit 1 is "not archived" (recovery ends there: a name outside the plan); exit 254
	// (above 125) makes PostgreSQL abort recovery instead of promoting short of the
	// target, for a planned file the feed could not fetch, check or decrypt, and when
	// the feeding process is gone (killed: nothing would ever arrive).
	return fmt.Sprintf(`d=%s; f=%%f; p=%d; [ ${#f} -eq 24 ] && echo "$f" > "$d/.asked"; `+
		`grep -qxF "$f" "$d/.plan" || exit 1; `+
		`while :; do [ -f "$d/$f" ] && exec cp "$d/$f" "%%p"; `+
		`if [ -e "$d/.end" ]; then [ -f "$d/$f" ] && exec cp "$d/$f" "%%p"; [ -e "$d/.error" ] && exit 254; exit 1; fi; `+
		`[ -d /proc/$p ] || exit 254; sleep 0.05; done`, d, f.pid)
}

// ShellQuote single-quotes s for sh (restore_command, archive_command); quoteLit then
// quotes the whole command for the setting.
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// start runs the feed until it has delivered the plan, failed, or stop is called.
func (f *walFeed) start(ctx context.Context, st Store, k *Keys) {
	ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		err := f.run(ctx, st, k)
		if err != nil && ctx.Err() == nil {
			f.mu.Lock()
			f.err = err
			f.mu.Unlock()
			f.writeFile(".error", err.Error()+"\n")
		}
		f.writeFile(".end", "")
	}()
}

func (f *walFeed) run(ctx context.Context, st Store, k *Keys) error {
	for _, name := range f.plan {
		if !strings.HasSuffix(name, ".history") {
			if err := f.waitRoom(ctx, name); err != nil {
				return err
			}
		}
		tmp := filepath.Join(f.dir, "."+name+".part")
		if _, err := FetchWAL(ctx, st, name, tmp, k); err != nil {
			return fmt.Errorf("fetch %s for replay: %w", name, err)
		}
		if f.uid >= 0 {
			os.Chown(tmp, f.uid, f.gid)
		}
		if err := os.Rename(tmp, filepath.Join(f.dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// waitRoom waits until replay asked for a segment at most ahead before name, deleting
// the segments replay has moved past.
func (f *walFeed) waitRoom(ctx context.Context, name string) error {
	_, want, _ := segmentNumber(name)
	for {
		asked := f.asked()
		_, cur, isSeg := segmentNumber(asked)
		if isSeg {
			f.prune(asked)
		}
		if !isSeg && want < f.first+uint64(f.ahead) || isSeg && want <= cur+uint64(f.ahead) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (f *walFeed) asked() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, ".asked"))
	s := strings.TrimSpace(string(b))
	if len(s) != 24 {
		return ""
	}
	return s
}

// prune deletes delivered segments before asked (replay has read them; the one asked
// for stays: the server may read it again).
func (f *walFeed) prune(asked string) {
	ents, _ := os.ReadDir(f.dir)
	for _, e := range ents {
		if n := e.Name(); len(n) == 24 && n < asked {
			os.Remove(filepath.Join(f.dir, n))
		}
	}
}

func (f *walFeed) writeFile(name, text string) error {
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		return err
	}
	if f.uid >= 0 {
		os.Chown(p, f.uid, f.gid)
	}
	return nil
}

// Err is why the feed stopped early (nil: it did not, or not yet).
func (f *walFeed) Err() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// stop ends the feed and removes the spool.
func (f *walFeed) stop() {
	if f == nil {
		return
	}
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
	RemoveScratch(f.dir)
}
