package backup

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Why an advisory lock on the source, not a lease object in the store: PostgreSQL
// releases a session lock the moment the session ends, so a crashed or killed backup
// never blocks the next night (no lease to expire, no clock skew between hosts); and the
// lock session sets tcp_keepalives_* so a vanished host's lock is dropped within about two
// minutes. The lock key is derived from the store and the database, so backups of other
// databases or to other stores run side by side.

// lockKey is the advisory lock key of backups of database to store.
func lockKey(storeID, database string) int64 {
	h := fnv.New64a()
	h.Write([]byte("linkbackup backup\x00" + storeID + "\x00" + database))
	return int64(h.Sum64())
}

// LockHolder describes the session holding a backup lock.
type LockHolder struct {
	PID         int
	Application string
	Client      string
	Since       time.Time
}

// acquireLock takes the backup lock on conn (session level), waiting up to wait. The
// caller releases it with releaseLock (closing the session also releases it, but the
// server notices a closed session asynchronously).
func acquireLock(ctx context.Context, conn *pgx.Conn, key int64, wait time.Duration, what string) error {
	deadline := time.Now().Add(wait)
	for vanished := 0; ; {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			return fmt.Errorf("take backup lock: %w", err)
		}
		if ok {
			return nil
		}
		h, err := lockHolder(ctx, conn, key)
		if err != nil {
			return fmt.Errorf("%s: %w by another session (cannot tell which: %v)", what, ErrLocked, err)
		}
		if h == nil && vanished < 10 {
			vanished++ // released between the two queries: try again
			continue
		}
		if time.Now().After(deadline) {
			if h == nil {
				return fmt.Errorf("%s: %w by another session", what, ErrLocked)
			}
			return fmt.Errorf("%s: %w by %q from %s since %s (PostgreSQL backend pid %d): another linkbackup run (backup, standby "+
				"refresh or forget) is working on it; wait for it or raise backup.lock_timeout; if that process is gone and the session hangs, run "+
				"SELECT pg_terminate_backend(%d)", what, ErrLocked, h.Application, h.Client,
				h.Since.UTC().Format(time.RFC3339), h.PID, h.PID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// releaseLock releases the backup lock (errors ignored: closing the session releases it too).
func releaseLock(ctx context.Context, conn *pgx.Conn, key int64) {
	conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key)
}

func lockHolder(ctx context.Context, conn *pgx.Conn, key int64) (*LockHolder, error) {
	u := uint64(key)
	var h LockHolder
	err := conn.QueryRow(ctx, `
SELECT a.pid, COALESCE(a.application_name, ''), COALESCE(host(a.client_addr), 'local socket'),
       COALESCE(a.backend_start, now())
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1
LIMIT 1`, uint32(u>>32), uint32(u)).Scan(&h.PID, &h.Application, &h.Client, &h.Since)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}
