package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/backup/trust"
)

// EncryptionConfig: who can read snapshots.
type EncryptionConfig struct {
	// Recipients: new snapshots' content is age-encrypted to each (age1… X25519 keys or
	// ssh-ed25519/ssh-rsa public keys). Default none: plaintext.
	Recipients []string `yaml:"recipients"`
	// RecipientsFile: more recipients, one per line.
	RecipientsFile string `yaml:"recipients_file"`
	// IdentityFiles decrypt snapshots (age-keygen files, or SSH private keys): on the
	// restore and standby hosts, never needed on the backup host.
	IdentityFiles []string `yaml:"identity_files"`
}

// SigningConfig: who can write snapshots that readers accept.
type SigningConfig struct {
	// KeyFile signs new manifests (linkbackup keygen's signing.key, or an OpenSSH
	// ed25519 key): on the backup host only.
	KeyFile string `yaml:"key_file"`
	// VerifyKeys: a snapshot must be signed by one of them before any of its SQL runs or
	// rows are read (linkbackup-ed25519 … or ssh-ed25519 … lines, or files holding one).
	VerifyKeys []string `yaml:"verify_keys"`
	// AllowUnsigned, with verify keys, accepts snapshots without any signature (taken
	// before signing was turned on); a bad signature is always refused.
	AllowUnsigned bool `yaml:"allow_unsigned"`
}

// addKeyFlags declares the key flags of a command that writes snapshots (write) and/or
// reads their content (read).
func addKeyFlags(cmd *cobra.Command, a *app, write, read bool) {
	f := cmd.Flags()
	if write {
		f.StringSlice("recipient", nil, "encrypt to this age or SSH public key (repeatable) ($LINKBACKUP_ENCRYPTION_RECIPIENTS)")
		f.String("recipients-file", "", "encrypt to every key in FILE, one per line")
		f.String("signing-key", "", "sign the manifest with this key FILE (linkbackup keygen's signing.key)")
		a.bind(cmd, "recipient", "encryption.recipients")
		a.bind(cmd, "recipients-file", "encryption.recipients_file")
		a.bind(cmd, "signing-key", "signing.key_file")
	}
	if read {
		f.StringSlice("identity", nil, "decrypt with this identity FILE (age key or SSH private key; repeatable)")
		f.StringSlice("verify-key", nil, "accept only snapshots signed by this KEY or key FILE (repeatable)")
		f.Bool("allow-unsigned", false, "with --verify-key: accept snapshots that carry no signature (never a bad one)")
		a.bind(cmd, "identity", "encryption.identity_files")
		a.bind(cmd, "verify-key", "signing.verify_keys")
		a.bind(cmd, "allow-unsigned", "signing.allow_unsigned")
	}
}

// keys loads the configured keys; a key that cannot be read is a usage error naming
// the file or the key's position, never the key.
func (a *app) keys() (*backup.Keys, error) {
	c := a.cfg
	k := &backup.Keys{AllowUnsigned: c.Signing.AllowUnsigned}
	var errs []error
	for i, s := range c.Encryption.Recipients {
		r, err := trust.ParseRecipient(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("encryption.recipients[%d]: %w", i, err))
			continue
		}
		k.Recipients = append(k.Recipients, r)
	}
	if f := c.Encryption.RecipientsFile; f != "" {
		rs, err := trust.ReadRecipientsFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("encryption.recipients_file: %w", err))
		}
		k.Recipients = append(k.Recipients, rs...)
	}
	for _, f := range c.Encryption.IdentityFiles {
		ids, err := trust.ReadIdentityFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("encryption.identity_files: %w", err))
		}
		k.Identities = append(k.Identities, ids...)
	}
	if f := c.Signing.KeyFile; f != "" {
		s, err := trust.ReadSigningKey(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("signing.key_file: %w", err))
		}
		k.Signer = s
	}
	for i, s := range c.Signing.VerifyKeys {
		v, err := trust.ParseVerifyKey(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("signing.verify_keys[%d]: %w", i, err))
			continue
		}
		k.Verifiers = append(k.Verifiers, v)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, usageError(err)
	}
	a.keyring = k
	return k, nil
}

func newKeygenCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out DIR",
		Short: "Create an encryption key pair and a signing key pair",
		Long: `Write four files into DIR (private ones with mode 0600) and say which goes where:

  age.pub       encryption.recipients_file   on the backup host (encrypts)
  signing.key   signing.key_file             on the backup host only (signs manifests)
  age.key       encryption.identity_files    on the restore and standby hosts (decrypts)
  signing.pub   signing.verify_keys          on every host that reads snapshots

Keep a copy of age.key offline: without it no snapshot can be restored. Existing age
keys (age-keygen) and OpenSSH keys are accepted as well. Never overwrites a file.

Exit codes: 0 written; 1 a file exists or cannot be written; 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError(errors.New("no directory: set --out DIR"))
			}
			g, err := trust.Generate(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, `wrote the encryption pair (recipient %s) and the signing pair (key %s):
  backup host:             %s (encryption.recipients_file), %s (signing.key_file)
  restore / standby hosts: %s (encryption.identity_files), %s (signing.verify_keys)
keep an offline copy of %s: without it no snapshot can be restored
`, g.RecipientFingerprint, g.SignerFingerprint, g.AgePub, g.SigningKey, g.AgeKey, g.SigningPub, g.AgeKey)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory for age.key, age.pub, signing.key, signing.pub")
	return cmd
}

// keyedStore loads the configured keys, then opens the configured store (the commands
// that read or write WAL and base backups need both).
func (a *app) keyedStore(ctx context.Context) (backup.Store, *backup.Keys, error) {
	keys, err := a.keys()
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, a.cfg.Store, a.log)
	if err != nil {
		return nil, nil, err
	}
	return st, keys, nil
}
