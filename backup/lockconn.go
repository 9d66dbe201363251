package backup

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkagogo/linkbackup/internal/pgdsn"
)

// Locker keeps forget apart from backups and standby refreshes of the same store and
// database. Lock returns when the database's locks are held; release frees them.
type Locker interface {
	Lock(ctx context.Context, database string) (release func(), err error)
}

// PGLocker is the Locker of `linkbackup forget`: the backup lock (lockKey) on the source
// server, which every backup of the database to the store takes, and the standby lock
// (standbyLockKey) on the standby server, which every standby refresh takes. They are the
// session advisory locks of lock.go: a crashed holder's session ends and its lock with it.
type PGLocker struct {
	Source  string // DSN of the source server ("" = no backup lock)
	Standby string // DSN of the standby server's maintenance database ("" = no standby lock)
	Store   Store
	Wait    time.Duration // how long to wait for a holder (backup.lock_timeout)
	Log     *slog.Logger
}

// errLockUnreachable: the lock's server did not answer (not: someone holds the lock).
var errLockUnreachable = errors.New("lock server unreachable")

// Lock takes the backup lock, then the standby lock, of database.
func (l *PGLocker) Lock(ctx context.Context, database string) (func(), error) {
	var releases []func()
	release := func() {
		for i := len(releases) - 1; i >= 0; i-- {
			releases[i]()
		}
	}
	what := fmt.Sprintf("forget of database %s in %s", database, l.Store)
	if l.Source != "" {
		r, err := lockSession(ctx, l.Source, lockKey(l.Store.String(), database), l.Wait, what)
		if err != nil {
			return nil, err
		}
		releases = append(releases, r)
	}
	if l.Standby != "" {
		r, err := lockSession(ctx, l.Standby, standbyLockKey(l.Store.String(), database), l.Wait, what)
		switch {
		case errors.Is(err, errLockUnreachable) && l.Log != nil:
			// A refresh needs that server too: none is running, at least not from here. Were
			// one running from elsewhere on an old, unprotected snapshot, it would fail and
			// leave the serving copy untouched; nothing proven is ever removed.
			l.Log.Warn("standby server unreachable: forget goes on without the standby lock", "err", err)
		case err != nil:
			release()
			return nil, err
		default:
			releases = append(releases, r)
		}
	}
	return release, nil
}

// standbyLockWait is how long a standby refresh waits for a forget of the same database
// (forget takes seconds; a refused refresh would cost the night's drill).
const standbyLockWait = 2 * time.Minute

// standbyLockKey is the advisory lock key, on the standby server, of refreshes of
// database's snapshots from store.
func standbyLockKey(storeID, database string) int64 {
	h := fnv.New64a()
	h.Write([]byte("linkbackup standby\x00" + storeID + "\x00" + database))
	return int64(h.Sum64())
}

// lockSession opens a session to dsn (keepalives on, so a vanished host's lock goes
// within ~2 minutes) and takes the advisory lock key on it; release unlocks and closes.
func lockSession(ctx context.Context, dsn string, key int64, wait time.Duration, what string) (func(), error) {
	host, _ := os.Hostname()
	cfg, err := ConnConfig(dsn, fmt.Sprintf("linkbackup@%s:%d", host, os.Getpid()))
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["tcp_keepalives_idle"] = "60"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "10"
	cfg.RuntimeParams["tcp_keepalives_count"] = "6"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: connect to %s: %w", what, errLockUnreachable, pgdsn.Strip(dsn), err)
	}
	if err := acquireLock(ctx, conn, key, wait, what); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return func() {
		ctx := context.WithoutCancel(ctx)
		releaseLock(ctx, conn, key)
		conn.Close(ctx)
	}, nil
}
