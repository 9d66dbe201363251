package backup_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestEverySessionHasTimeoutsAndKeepalives: every session linkbackup opens (not only the
// backup's coordinator) has a connect timeout and TCP keepalives on both ends, so a
// vanished server or client is noticed within minutes; a DSN's own settings win.
func TestEverySessionHasTimeoutsAndKeepalives(t *testing.T) {
	t.Parallel()
	cfg, err := backup.ConnConfig(testenv.StandbyDSN(t), "linkbackup-test")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > time.Minute {
		t.Fatalf("connect timeout %s", cfg.ConnectTimeout)
	}
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var idle, interval, count string
	if err := c.QueryRow(context.Background(), `SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),
		current_setting('tcp_keepalives_count')`).Scan(&idle, &interval, &count); err != nil {
		t.Fatal(err)
	}
	if idle != "60" || interval != "10" || count != "6" {
		t.Fatalf("server-side keepalives: idle %s interval %s count %s", idle, interval, count)
	}
	own, err := backup.ConnConfig(testenv.StandbyDSN(t)+"&connect_timeout=7", "x")
	if err != nil || own.ConnectTimeout != 7*time.Second {
		t.Fatalf("a DSN's connect_timeout: %v, %v", own.ConnectTimeout, err)
	}
}
