// Package clihint words the fixes that backup's errors carry (backup.Fix) in the terms
// of the linkbackup command: its flags and config keys. The library says what is wrong;
// this package says which flag changes it.
package clihint

import (
	"strings"

	"github.com/linkagogo/linkbackup/backup"
)

// hints are appended to the library's message; {arg} is the error's Arg.
var hints = map[backup.Fix]string{
	backup.FixOtherTarget:      ". Restore into another database, or pass --force-same-cluster",
	backup.FixAllowDowngrade:   ". Pass --allow-downgrade to try anyway",
	backup.FixTablesNeedSchema: " (with --tables the schema must exist)",
	backup.FixTruncate:         "; pass --force to truncate it first",
	backup.FixDropSchemas:      ", or pass --force to DROP every schema of {arg} first",
	backup.FixWholeRestore:     " without --tables",
	backup.FixStandbySource: "; point --source at the primary, " +
		"or pass --allow-standby-source to back up the copy on purpose",
	backup.FixPgDump: ": install the PostgreSQL client (Debian: apt-get install postgresql-client-15) " +
		"or set backup.pg_dump (--pg-dump) to its path",
	backup.FixPgDumpNewer: ". Install pg_dump {arg} or newer (Debian/Ubuntu: apt-get install postgresql-client-{arg}) " +
		"and set backup.pg_dump (--pg-dump) to it, e.g. /usr/lib/postgresql/{arg}/bin/pg_dump",
	backup.FixMaintenanceDB:     "; point --standby at a maintenance database such as postgres",
	backup.FixStandbySameServer: ". Pass --force-same-cluster for a test setup",
	backup.FixMemberSchema:      ": --member works on the bookmark schema",
	backup.FixStandbyName:       ": pass --database NAME",
	backup.FixAllowUnsigned: ". If it was taken before signing was turned on, pass --allow-unsigned " +
		"(signing.allow_unsigned) for this restore",
	backup.FixIdentity:         ": pass --identity FILE (encryption.identity_files) with the private key of one of them",
	backup.FixStandbyCopyName:  " (never refreshed, dropped, or --database names another copy)",
	backup.FixStandbyRepair:    "; run linkbackup standby --repair to reopen it now (the next refresh also does)",
	backup.FixSnapshotDatabase: ": name the source database with --database NAME (or give a snapshot id)",
	backup.FixCleanTarget:      ". Drop them in {arg} first (DROP PUBLICATION …, DROP SERVER …), or restore into a new database (createdb)",
	backup.FixUnknownCluster: ". Let the role read it (GRANT EXECUTE ON FUNCTION pg_control_system() TO …, on the " +
		"server the check failed on), or pass --force-same-cluster if the target is certainly not the source",
}

// Text is the hint for fix ("" for none).
func Text(fix backup.Fix, arg string) string {
	return strings.ReplaceAll(hints[fix], "{arg}", arg)
}

// Message is err's message followed by the hint of the fix it carries, if any.
func Message(err error) string { return backup.Message(err, Text) }
