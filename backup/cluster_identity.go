package backup

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// systemIdentifier reads the cluster's system identifier (pg_control_system()).
func systemIdentifier(ctx context.Context, conn *pgx.Conn) (string, error) {
	var sysid string
	if err := conn.QueryRow(ctx, `SELECT system_identifier::text FROM pg_control_system()`).Scan(&sysid); err != nil {
		return "", fmt.Errorf("pg_control_system(): %w", err)
	}
	return sysid, nil
}

// unknownCluster is the refusal when the checks that keep a restore off the snapshot's
// own source cannot compare identities: the server's is unreadable (readErr) or the
// snapshot lacks its source's. nil when both are known.
func unknownCluster(readErr error, m *Manifest, what string) error {
	if readErr != nil {
		return fixable(FixUnknownCluster, "", "%w: cannot read the %s's system identifier (%v), so it cannot be told apart "+
			"from the snapshot's source cluster", ErrRefused, what, readErr)
	}
	if m.Server.SystemIdentifier == "" {
		return fixable(FixUnknownCluster, "", "%w: snapshot %s does not record its source's system identifier (pg_control_system() "+
			"was unreadable when it was taken), so the %s cannot be told apart from the source cluster", ErrRefused, m.ID, what)
	}
	return nil
}
