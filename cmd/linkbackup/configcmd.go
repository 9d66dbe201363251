package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

func newConfigCmd(a *app) *cobra.Command {
	var keys bool
	cmd := &cobra.Command{
		Use:   "config [--keys]",
		Short: "Print the effective configuration (secrets redacted) or the list of keys",
		Long: `Print the effective configuration after defaults, the config file, environment
variables and flags are applied, as YAML with passwords redacted. --keys lists every key
with its environment variable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keys {
				for _, k := range configKeys() {
					fmt.Fprintf(a.stdout, "%-28s %s\n", k, envName(k))
				}
				return nil
			}
			b, err := yaml.Marshal(a.cfg)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(a.stdout, strings.TrimSpace(string(b))+"\n")
			return err
		},
	}
	cmd.Flags().BoolVar(&keys, "keys", false, "list config keys and their environment variables")
	cmd.Flags().String("source", "", "source DSN, to see how it is read")
	cmd.Flags().String("store", "", "store URL, to see how it is read")
	a.bind(cmd, "source", "source")
	a.bind(cmd, "store", "store")
	return cmd
}
