package backup

import (
	"errors"
	"fmt"
)

// Fix names what a caller can change to get past an error, in the library's terms (an
// Options field, an input); cmd/linkbackup words it as its flags (hints.go). The
// library's messages say what is wrong; they never name a command-line flag.
type Fix string

// The fixes the library's errors carry.
const (
	FixOtherTarget       Fix = "other-target"        // target is the snapshot's own source: another database, or RestoreOptions.ForceSameCluster
	FixAllowDowngrade    Fix = "allow-downgrade"     // RestoreOptions.AllowDowngrade
	FixTablesNeedSchema  Fix = "tables-need-schema"  // RestoreOptions.Tables restores into tables that exist
	FixTruncate          Fix = "truncate"            // RestoreOptions.Force with Tables truncates them
	FixDropSchemas       Fix = "drop-schemas"        // RestoreOptions.Force drops the target's schemas (Arg: database)
	FixWholeRestore      Fix = "whole-restore"       // binary COPY into other column types: restore without Tables
	FixStandbySource     Fix = "standby-source"      // Options.AllowStandbySource
	FixPgDump            Fix = "pg-dump"             // Options.PgDump: install pg_dump or name it
	FixPgDumpNewer       Fix = "pg-dump-newer"       // Options.PgDump: a newer pg_dump (Arg: the server's major version)
	FixMaintenanceDB     Fix = "maintenance-db"      // StandbyOptions.Server must name a maintenance database
	FixStandbySameServer Fix = "standby-same-server" // StandbyOptions.ForceSameCluster
	FixMemberSchema      Fix = "member-schema"       // a member restore needs the bookmark schema
	FixStandbyName       Fix = "standby-name"        // StatusOptions.Database names the serving database
	FixStandbyCopyName   Fix = "standby-copy-name"   // StatusOptions.Database may name another copy
	FixAllowUnsigned     Fix = "allow-unsigned"      // Keys.AllowUnsigned accepts a snapshot without a signature
	FixIdentity          Fix = "identity"            // Keys.Identities must hold a key the snapshot is encrypted to
	FixStandbyRepair     Fix = "standby-repair"      // RepairStandby (or the next RefreshStandby) reopens the copy
	FixUnknownCluster    Fix = "unknown-cluster"     // the cluster identity is unreadable: grant pg_control_system(), or ForceSameCluster
	FixSnapshotDatabase  Fix = "snapshot-database"   // ResolveSnapshot needs the database (or an exact id): several in the store
	FixCleanTarget       Fix = "clean-target"        // objects outside schemas in the target: drop them, or another database (Arg: database)
)

// FixableError is an error that the caller gets past with Fix. Its message is the
// library's; Arg is a fact the wording of the fix needs ("" if none).
type FixableError struct {
	Err error
	Fix Fix
	Arg string
}

func (e *FixableError) Error() string { return e.Err.Error() }
func (e *FixableError) Unwrap() error { return e.Err }

// Hinter words a fix for the reader of a message (nil: no wording is added).
type Hinter func(fix Fix, arg string) string

// fixable wraps the formatted error with fix.
func fixable(fix Fix, arg string, format string, args ...any) error {
	return &FixableError{Err: fmt.Errorf(format, args...), Fix: fix, Arg: arg}
}

// Message is err's message followed by h's wording of the fix err carries, if any.
func Message(err error, h Hinter) string {
	var fe *FixableError
	if h != nil && errors.As(err, &fe) {
		return err.Error() + h(fe.Fix, fe.Arg)
	}
	return err.Error()
}
