package backup

import (
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConnectTimeout bounds opening a session when the DSN sets no connect_timeout.
const ConnectTimeout = 30 * time.Second

// keepalives are the server's TCP keepalive settings for every session (a DSN's own
// win): the server drops a vanished client's session, and its locks, within ~2 minutes.
var keepalives = map[string]string{"tcp_keepalives_idle": "60", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "6"}

// BoundWaits gives cfg a connect timeout (unless its DSN sets connect_timeout) and TCP
// keepalives on both ends, so that no session waits forever on a server (or a network)
// that went away. ConnConfig applies it; other packages' sessions (pools) call it.
func BoundWaits(cfg *pgx.ConnConfig) { boundWaits(cfg) }

func boundWaits(cfg *pgx.ConnConfig) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = ConnectTimeout
	}
	for k, v := range keepalives {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Minute, Interval: 10 * time.Second, Count: 6}}
	cfg.DialFunc = d.DialContext
}
