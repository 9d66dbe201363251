package readers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// DTDDir returns the directory of the test DTD and catalog (testdata/export/xbel-dtd).
func DTDDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "export", "xbel-dtd")
}

// XMLLint validates data with `xmllint --valid --noout --nonet`, the XBEL DTD found
// through the test catalog. A missing xmllint fails the test under `make test`
// (LINKBACKUP_TEST_REQUIRE=1) and skips it otherwise.
func XMLLint(t testing.TB, data []byte) error {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("xmllint not found (%v): install Debian's libxml2-utils (apt-get install -y libxml2-utils)", err)
		}
		t.Skip("xmllint not found: apt-get install -y libxml2-utils, or run `make test`")
	}
	f := filepath.Join(t.TempDir(), "bookmarks.xbel")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--valid", "--noout", "--nonet", f)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+filepath.Join(DTDDir(), "catalog.xml"))
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		return fmt.Errorf("xmllint --valid: %v\n%s", err, out)
	}
	return nil
}
