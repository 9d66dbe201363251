package linkbackup_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules checks the rules of docs/architecture.md against `go list`.
func TestImportRules(t *testing.T) {
	const mod = "github.com/linkagogo/linkbackup"
	list := func(args ...string) map[string][]string {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, args...)...).Output()
		if err != nil {
			t.Fatalf("go list %v: %v", args, err)
		}
		m := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			m[f[0]] = f[1:]
		}
		return m
	}
	forbid := func(pkgs map[string][]string, rule string, bad ...string) {
		t.Helper()
		for p, deps := range pkgs {
			for _, d := range deps {
				for _, b := range bad {
					if d == b || strings.HasPrefix(d, b+"/") {
						t.Errorf("%s: %s depends on %s", rule, p, d)
					}
				}
			}
		}
	}
	forbid(list(mod+"/backup", mod+"/backup/file", mod+"/backup/s3", mod+"/backup/storetest"),
		"backup knows no member and no mail", mod+"/export", mod+"/mailer", mod+"/backup/member", mod+"/internal/bookmarkgen")
	forbid(list(mod+"/export"), "the export renderer knows no database", "github.com/jackc/pgx/v5")
	forbid(list(mod+"/mailer/..."), "mailer reaches the store only through backup's interfaces",
		mod+"/backup/file", mod+"/backup/s3", "github.com/aws/aws-sdk-go-v2")

	// Direct imports of the AWS SDK: backup/s3, and testenv for test buckets.
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if f[0] == mod+"/backup/s3" || f[0] == mod+"/internal/testenv" {
			continue
		}
		for _, d := range f[1:] {
			if strings.HasPrefix(d, "github.com/aws/") {
				t.Errorf("only backup/s3 imports the AWS SDK: %s imports %s", f[0], d)
			}
		}
	}
}
