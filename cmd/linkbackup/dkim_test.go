package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDKIMRecord: dkim-record prints the zone-file TXT record of the configured key,
// split into 255-byte strings, whose p= is the key's public half.
func TestDKIMRecord(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "dkim.pem")
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})))
	config := filepath.Join(dir, "c.yaml")
	writeFile(t, config, "mail:\n  from: \"LinkaGoGo <backup@linkagogo.test>\"\n  dkim_key_file: "+keyFile+"\n  dkim_selector: weekly1\n")
	out, errs, code := run(t, "dkim-record", "--config", config)
	if code != 0 {
		t.Fatalf("exit %d %s %s", code, out, errs)
	}
	if !strings.HasPrefix(out, "weekly1._domainkey.linkagogo.test. IN TXT ( \"v=DKIM1; k=rsa; p=") {
		t.Fatalf("record %q", out)
	}
	var value string
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(out, -1) {
		if len(m[1]) > 255 {
			t.Fatalf("a string of %d bytes: over the TXT limit", len(m[1]))
		}
		value += m[1]
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(value, "v=DKIM1; k=rsa; p="))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil || !pub.(*rsa.PublicKey).Equal(&k.PublicKey) {
		t.Fatalf("p= is not the key's public half: %v", err)
	}
	if _, _, code := run(t, "dkim-record"); code != exitUsage {
		t.Fatalf("without a key: exit %d, want 2", code)
	}
}
