package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/termsafe"
)

// version is stamped by the Makefile (-ldflags "-X main.version=...").
var version = ""

// toolVersion returns the stamped version, else the module version from build info.
func toolVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// app is what every subcommand shares: effective config, logger and output streams.
type app struct {
	cfg        Config
	configFile string
	logLevel   string
	logFormat  string
	cpuProfile string
	log        *slog.Logger
	stdout     io.Writer
	stderr     io.Writer
	// bindings maps a flag name to the config key it overrides.
	bindings map[*pflag.Flag]string
	// keyring holds the keys loaded by keys() (nil until then).
	keyring *backup.Keys
}

const rootHelp = `linkbackup backs up the LinkaGoGo bookmark database, proves every snapshot by
restoring it into a standby, and mails premium members their links.

Nightly (cron):  linkbackup nightly --config FILE    backup, standby refresh, forget, heartbeats
  linkbackup backup     snapshot PostgreSQL into a store (file:// or s3://)
  linkbackup standby    restore a snapshot into the standby, prove every table, swap it in
  linkbackup status     is the standby ready? (Nagios/Icinga exit codes, Prometheus file)
Any time:
  linkbackup restore    restore a snapshot (or one member's rows) into any database, safely;
                        --to-time: point-in-time recovery from a base backup and the WAL archive
  linkbackup snapshots  list the complete snapshots in a store
  linkbackup verify     re-read a snapshot and prove every object and table digest
  linkbackup forget     remove what the retention policy does not keep (never the last
                        proven snapshot); --dry-run shows the decisions and reasons
  linkbackup pin        keep a snapshot whatever the policy says (unpin lifts it)
  linkbackup check      run the drill's invariants against any database
  linkbackup keygen     create the encryption (age) and signing (Ed25519) key pairs
Point-in-time recovery:
  linkbackup wal-push   archive_command: store one WAL file, compressed, encrypted, signed
  linkbackup wal-fetch  restore_command: fetch one archived WAL file, checked and decrypted
  linkbackup basebackup stream a physical base backup of the cluster into the store
Weekly:
  linkbackup export     member bookmark files (Netscape HTML + XBEL, zipped); --mail
                        emails each opted-in premium member exactly once per week
  linkbackup worker     River worker for the weekly email (run on as many hosts as needed)
  linkbackup migrate    create or upgrade the mail state (River + ledger)
  linkbackup serve      one-click unsubscribe (RFC 8058), downloads, status page, /metrics
  linkbackup dkim-record  the DNS TXT record of the configured DKIM key

Configuration: every flag can also be set in a YAML file (--config, $VAR expanded) or
an environment variable LINKBACKUP_<KEY> (e.g. LINKBACKUP_SOURCE, LINKBACKUP_STORE,
LINKBACKUP_BACKUP_JOBS; ` + "`linkbackup config --keys`" + ` lists them all). Precedence:
flag > environment > config file > default. Secrets (DSN passwords, S3 keys, heartbeat
URLs) are never logged; prefer PGPASSFILE / AWS profiles or *_FILE variables.

Exit codes (each command's --help has its own details):
  0    success
  1    error (the message says what failed and what to do)
  2    usage error (bad flag, bad config)
  3    partial: some items failed, the rest succeeded (see the report)
  4    refused by a safety rail before any change (restore, standby)
  5    restored data differs from the snapshot (restore, standby)
  6    an invariant refused the restored copy (standby, nightly, check)
  130  interrupted (SIGINT/SIGTERM)
  status uses 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios/Icinga)
`

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	// What the commands print may carry a store's or a server's text: no control characters.
	stdout = termsafe.NewWriter(stdout)
	a := &app{cfg: DefaultConfig(), stdout: stdout, stderr: stderr, bindings: map[*pflag.Flag]string{}}
	root := &cobra.Command{
		Use:           "linkbackup",
		Short:         "Snapshot, prove and restore the bookmark database; mail members their links",
		Long:          rootHelp,
		Version:       toolVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.cpuProfile != "" {
				f, err := os.Create(a.cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
			}
			return a.setup(cmd)
		},
		PersistentPostRun: func(*cobra.Command, []string) {
			if a.cpuProfile != "" {
				pprof.StopCPUProfile()
			}
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", os.Getenv("LINKBACKUP_CONFIG"), "YAML config file ($LINKBACKUP_CONFIG)")
	pf.StringVar(&a.logLevel, "log-level", "info", "debug, info, warn or error")
	pf.StringVar(&a.logFormat, "log-format", "auto", "auto (text on a terminal, JSON otherwise), text or json")
	pf.StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile to this file (diagnostics)")
	pf.MarkHidden("cpuprofile")
	root.AddCommand(
		newBackupCmd(a),
		newBasebackupCmd(a),
		newCheckCmd(a),
		newConfigCmd(a),
		newDevCmd(a),
		newDKIMRecordCmd(a),
		newExportCmd(a),
		newForgetCmd(a),
		newKeygenCmd(a),
		newMigrateCmd(a),
		newNightlyCmd(a),
		newPinCmd(a),
		newRestoreCmd(a),
		newServeCmd(a),
		newSnapshotsCmd(a),
		newStandbyCmd(a),
		newStatusCmd(a),
		newUnpinCmd(a),
		newVerifyCmd(a),
		newVersionCmd(a),
		newWALFetchCmd(a),
		newWALPushCmd(a),
		newWorkerCmd(a),
	)
	usageArgs(root)
	return root
}

// usageArgs makes every command's positional-argument error a usage error (exit 2), as
// --help documents (status keeps its own UNKNOWN code: its Args sets it explicitly).
func usageArgs(c *cobra.Command) {
	if !c.Runnable() && c.HasSubCommands() {
		// A command group prints its help, and an unknown subcommand is a usage error
		// (cobra would print the help and exit 0).
		c.Args = cobra.NoArgs
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error { return usageError(args(cmd, a)) }
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// bind declares that flag name of cmd overrides config key (see config.go).
func (a *app) bind(cmd *cobra.Command, name, key string) {
	f := cmd.Flags().Lookup(name)
	if f == nil {
		panic("bind: no flag " + name)
	}
	def := DefaultConfig()
	v, err := lookupKey(&def, key)
	if err != nil {
		panic("bind: " + err.Error())
	}
	// The flag's default (shown by --help) is the config default: one source of truth;
	// flags are declared with zero values.
	if def := defaultString(v); def != f.DefValue {
		if _, isSlice := v.Interface().([]string); !isSlice {
			if err := f.Value.Set(def); err != nil {
				panic("bind: default of --" + name + ": " + err.Error())
			}
		}
		f.DefValue = def
	}
	a.bindings[f] = key
}

// defaultString formats a config default as pflag prints the default of its flag.
func defaultString(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case []string:
		return "[" + strings.Join(x, ",") + "]"
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(v.Interface())
}

// setup loads config (defaults < file < env < flags), validates it and builds the logger.
func (a *app) setup(cmd *cobra.Command) error {
	cfg := DefaultConfig()
	if a.configFile != "" {
		if err := loadConfigFile(&cfg, a.configFile); err != nil {
			return usageError(err)
		}
	}
	if err := applyEnv(&cfg, os.LookupEnv); err != nil {
		return usageError(err)
	}
	var ferr error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		key, ok := a.bindings[f]
		if !ok || ferr != nil {
			return
		}
		ferr = setKey(&cfg, key, flagString(f))
	})
	if ferr != nil {
		return usageError(ferr)
	}
	if err := cfg.Validate(); err != nil {
		return usageError(err)
	}
	a.cfg = cfg
	setMemoryLimit(cfg)
	log, err := newLogger(a.stderr, a.logLevel, a.logFormat)
	if err != nil {
		return usageError(err)
	}
	a.log = log
	for what, dsn := range map[string]DSN{"source": a.cfg.Source, "standby.server": a.cfg.Standby.Server, "mail.state": a.cfg.Mail.State} {
		if dsn != "" {
			warnPlaintextDSN(log, what, string(dsn))
		}
	}
	return nil
}

// flagString renders a flag's value the way setKey parses it (slices comma-joined).
func flagString(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), ",")
	}
	return f.Value.String()
}

func isTerminal(w io.Writer) bool {
	if u, ok := w.(interface{ Unwrap() io.Writer }); ok {
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want auto, text or json", format)
}

// setMemoryLimit gives the Go runtime a soft memory limit sized to the work (40 MiB +
// 16 MiB per job: 104 MiB at the default 4 jobs), unless the operator set GOMEMLIMIT.
// Every object's S3 upload leaves its part buffers behind as garbage; with only GOGC the
// heap grew to twice the live size, so peak RSS followed the number of objects
// (measured: 130 MiB for a 250 MB database, 215 MiB for 1 GB). With the limit, peak RSS
// was 118 MiB whether the 250 MB database went out as 16 or 60 objects.
func setMemoryLimit(c Config) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	jobs := max(c.Backup.Jobs, c.Standby.Jobs)
	debug.SetMemoryLimit(int64(40+16*jobs) << 20)
}
