package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
)

func newVerifyCmd(a *app) *cobra.Command {
	var asJSON bool
	var database string
	var wal bool
	cmd := &cobra.Command{
		Use:   "verify --store URL [ID|latest|YYYY-MM-DD] | verify --wal --store URL",
		Short: "Re-read a snapshot and check every object and table digest",
		Long: `Re-read every object of a snapshot (default: latest) and check its stored size and
SHA-256, that it decompresses, and for table data the row count and row digest of every
chunk and table against the manifest. Every broken object is named.

With --verify-key (signing.verify_keys) the manifest's signature is checked first. An
encrypted snapshot is decrypted with --identity (encryption.identity_files); without a
matching identity only the stored bytes are checked: "intact, content not decrypted",
which is what the backup host, holding no private key, can say.

latest and YYYY-MM-DD mean the newest snapshot of one source database (--database, default
the configured source's); in a store of several databases they are refused without one.

--wal checks the WAL archive instead: every segment from the oldest base backup's start
(the oldest archived segment when there is no base backup) to the newest archived one
is present (a gap is named: no recovery can pass it), its record names it and carries a
valid signature (with verify keys), its stored size and SHA-256 match, and with an
identity (or for a plaintext archive) its content's SHA-256 too. Only that timeline.

Exit codes: 0 all objects good; 1 broken objects or WAL gaps (listed) or the store
unreadable.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if wal {
				if len(args) > 0 {
					return usageError(errors.New("verify --wal checks the whole WAL archive: give no snapshot id"))
				}
				return a.verifyWAL(cmd, asJSON)
			}
			st, id, err := a.openSnapshotOf(ctx, args, database)
			if err != nil {
				return err
			}
			progress := &backup.Progress{}
			stop := showProgress(ctx, a.stderr, "verify", progress)
			keys, err := a.keys()
			if err != nil {
				stop()
				return err
			}
			rep, err := backup.Verify(ctx, st, id, backup.VerifyOptions{Jobs: a.cfg.Backup.Jobs, Log: a.log, Progress: progress, Keys: keys})
			stop()
			if rep == nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(rep); jerr != nil {
					return jerr
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(a.stdout, "BROKEN", p)
				}
				status := "OK"
				if len(rep.Problems) > 0 {
					status = fmt.Sprintf("FAILED: %d broken", len(rep.Problems))
				}
				fmt.Fprintf(a.stdout, "snapshot %s: %d objects, %s, %d rows checked: %s\n", rep.ID, rep.Objects,
					backup.HumanBytes(rep.Bytes), rep.Rows, status)
				if !rep.ContentChecked {
					fmt.Fprintln(a.stdout, "encrypted: stored bytes intact (sizes, SHA-256); content not decrypted (no matching --identity)")
				}
				if rep.Authenticated {
					fmt.Fprintln(a.stdout, "authentic: the manifest's signature verified")
				} else {
					fmt.Fprintln(a.stdout, "not authenticated: no --verify-key (signing.verify_keys) configured")
				}
			}
			return err
		},
	}
	cmd.Flags().String("store", "", "store URL ($LINKBACKUP_STORE)")
	cmd.Flags().Int("jobs", 0, "objects read in parallel")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&wal, "wal", false, "check the WAL archive's continuity and every segment instead of a snapshot")
	cmd.Flags().StringVar(&database, "database", "", "latest/YYYY-MM-DD: the newest snapshot of this source database (default: the configured source's)")
	a.bind(cmd, "store", "store")
	a.bind(cmd, "jobs", "backup.jobs")
	addKeyFlags(cmd, a, false, true)
	return cmd
}

// verifyWAL is verify --wal.
func (a *app) verifyWAL(cmd *cobra.Command, asJSON bool) error {
	ctx := cmd.Context()
	st, keys, err := a.keyedStore(ctx)
	if err != nil {
		return err
	}
	rep, err := backup.VerifyWAL(ctx, st, keys, a.cfg.Backup.Jobs, a.log)
	if err != nil {
		return err
	}
	ar := rep.Archive
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if ar == nil || ar.Newest == "" {
		fmt.Fprintln(a.stdout, "the store holds no archived WAL segment")
	} else {
		for _, m := range ar.Missing {
			fmt.Fprintf(a.stdout, "MISSING %s: no recovery can replay past it\n", m.Name)
		}
		for _, p := range rep.Broken {
			fmt.Fprintln(a.stdout, "BROKEN", p)
		}
		status := "OK"
		if !rep.OK() {
			status = fmt.Sprintf("FAILED: %d missing, %d broken", len(ar.Missing), len(rep.Broken))
		}
		from := "the oldest archived segment"
		if rep.Base != "" {
			from = "base backup " + rep.Base
		}
		fmt.Fprintf(a.stdout, "WAL archive %s to %s (timeline %s, from %s): %d segments, %s checked: %s\n",
			ar.First, ar.Newest, ar.Timeline, from, rep.Segments, backup.HumanBytes(rep.Bytes), status)
		if !rep.ContentChecked {
			fmt.Fprintln(a.stdout, "encrypted: stored bytes intact (sizes, SHA-256); content not decrypted (no --identity)")
		}
	}
	if !rep.OK() {
		if ar != nil && len(ar.Missing) > 0 {
			return fmt.Errorf("%w: %d segment(s) missing from %s on (first %s)", backup.ErrWALBroken, len(ar.Missing), ar.First, ar.Missing[0].Name)
		}
		return fmt.Errorf("%w: %d broken segment(s) (first %s)", backup.ErrWALBroken, len(rep.Broken), rep.Broken[0].Key)
	}
	return nil
}
