package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linkagogo/linkbackup/mailer"
)

func newDKIMRecordCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dkim-record",
		Short: "Print the DNS TXT record of the configured DKIM key and selector",
		Long: `Print the DNS TXT record that publishes mail.dkim_key_file's public key, named
<mail.dkim_selector>._domainkey.<mail.dkim_domain (default: mail.from's domain)>, in zone
file form. Publish it before the first message is signed with the key; check it with
  dig +short TXT <name>
docs/operations.md lists the SPF and DMARC records to publish beside it.
Exit codes: 0 printed; 2 no key, selector or domain configured; 1 the key is unreadable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mc := a.cfg.Mail
			if mc.DKIMKeyFile == "" || mc.DKIMSelector == "" {
				return usageError(errors.New("no DKIM key: set mail.dkim_key_file and mail.dkim_selector"))
			}
			domain := mc.DKIMDomain
			if domain == "" && mc.From != "" {
				from, err := mailer.ParseAddress(mc.From)
				if err != nil {
					return usageError(err)
				}
				_, domain, _ = strings.Cut(from.Address, "@")
			}
			if domain == "" {
				return usageError(errors.New("no DKIM domain: set mail.dkim_domain or mail.from"))
			}
			d, err := mailer.LoadDKIM(domain, mc.DKIMSelector, mc.DKIMKeyFile)
			if err != nil {
				return err
			}
			txt, err := d.TXTRecord()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s. IN TXT %s\n", d.RecordName(), zoneQuote(txt))
			return err
		},
	}
	return cmd
}

// zoneQuote splits s into quoted strings of at most 255 bytes (a TXT record's
// character-string limit; an RSA 2048 key's record is longer).
func zoneQuote(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	parts = append(parts, `"`+s+`"`)
	if len(parts) == 1 {
		return parts[0]
	}
	return "( " + strings.Join(parts, " ") + " )"
}
