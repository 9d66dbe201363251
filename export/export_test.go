package export_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zip"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/internal/readers"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/export/<case>/")

const goldenRoot = "../testdata/export"

func render(t testing.TB, c goldenCase) (*export.Tree, []export.Warning, []byte, []byte) {
	t.Helper()
	tree, warns := export.BuildTree(c.member, c.folders, c.links)
	var h, x bytes.Buffer
	hs, err := export.WriteHTML(&h, tree)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := export.WriteXBEL(&x, tree)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Bytes != int64(h.Len()) || xs.Bytes != int64(x.Len()) {
		t.Fatalf("Stats.Bytes %d/%d, wrote %d/%d", hs.Bytes, xs.Bytes, h.Len(), x.Len())
	}
	if hs.Links+hs.OmittedHTML != tree.Links || xs.Links != tree.Links || hs.Folders != tree.Folders || xs.Folders != tree.Folders {
		t.Fatalf("stats html %+v xbel %+v, tree has %d folders %d links", hs, xs, tree.Folders, tree.Links)
	}
	return tree, warns, h.Bytes(), x.Bytes()
}

func formatWarnings(ws []export.Warning) []byte {
	var b bytes.Buffer
	for _, w := range ws {
		fmt.Fprintf(&b, "%s member=%d ids=%v", w.Kind, w.Member, w.IDs)
		if len(w.Refs) > 0 {
			fmt.Fprintf(&b, " refs=%v", w.Refs)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./export -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("%s differs from the output (rerun with -update after checking):\n%s", path, lineDiff(want, got))
	}
}

// lineDiff shows the first differing line.
func lineDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, w, g)
		}
	}
	return "(same lines)"
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			_, warns, h, x := render(t, c)
			dir := filepath.Join(goldenRoot, c.name)
			golden(t, filepath.Join(dir, "bookmarks.html"), h)
			golden(t, filepath.Join(dir, "bookmarks.xbel"), x)
			golden(t, filepath.Join(dir, "warnings.txt"), formatWarnings(warns))
		})
	}
}

// TestReadersAgree reads every golden case back with readers the export did not write
// and compares with what the rows say (after the documented cleaning).
func TestReadersAgree(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			tree, _, h, x := render(t, c)
			wantHTML := readers.SortByPath(readers.Expected(tree, readers.FormatHTML))
			wantXBEL := readers.SortByPath(readers.Expected(tree, readers.FormatXBEL))

			got, err := readers.Chromium(h)
			if err != nil {
				t.Fatalf("chromium-like reader: %v", err)
			}
			if d := readers.Diff(wantHTML, readers.SortByPath(got)); d != "" {
				t.Fatalf("chromium-like reader:\n%s", d)
			}
			if !c.notNetscapeGo {
				got, err = readers.NetscapeGo(h)
				if err != nil {
					t.Fatalf("netscape-go: %v", err)
				}
				if d := readers.Diff(wantHTML, got); d != "" {
					t.Fatalf("netscape-go:\n%s", d)
				}
			}
			got, err = readers.XBEL(x)
			if err != nil {
				t.Fatalf("encoding/xml: %v", err)
			}
			if d := readers.Diff(wantXBEL, readers.SortByPath(got)); d != "" {
				t.Fatalf("encoding/xml:\n%s", d)
			}
			if err := readers.XMLLint(t, x); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestXMLLintRejects proves that the validation above is real: the DTD is found through
// the catalog and an undeclared attribute or a bad content model fails.
func TestXMLLintRejects(t *testing.T) {
	tree, _ := export.BuildTree(export.Member{ID: 1}, nil, []export.Link{{ID: 1, URL: "https://x.test/", Private: true, ReadLater: true}})
	var x bytes.Buffer
	if _, err := export.WriteXBEL(&x, tree); err != nil {
		t.Fatal(err)
	}
	if err := readers.XMLLint(t, x.Bytes()); err != nil {
		t.Fatalf("valid document rejected: %v", err)
	}
	for name, broken := range map[string]string{
		"undeclared attribute": strings.Replace(x.String(), ` read-later="yes"`, ` readlater="yes"`, 1),
		"no extension subset":  strings.Replace(x.String(), "<!ENTITY % local.url.att", "<!ENTITY % local.other.att", 1),
		"title after desc":     strings.Replace(x.String(), "<title>https://x.test/</title>", "<desc>d</desc><title>t</title>", 1),
		"numeric id":           strings.Replace(x.String(), `id="b1"`, `id="1"`, 1),
		"bad enumeration":      strings.Replace(x.String(), `private="yes"`, `private="1"`, 1),
	} {
		if broken == x.String() {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if err := readers.XMLLint(t, []byte(broken)); err == nil {
			t.Fatalf("%s: xmllint accepted an invalid document; is the DTD loaded?", name)
		}
	}
}

func TestZip(t *testing.T) {
	c := goldenCases()[0]
	tree, _, h, x := render(t, c)
	date := time.Date(2026, 11, 30, 4, 5, 6, 0, time.UTC)
	var z bytes.Buffer
	st, err := export.WriteZip(&z, tree, export.ZipOptions{Date: date})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != int64(z.Len()) || st.Links != tree.Links || st.Folders != tree.Folders {
		t.Fatalf("stats %+v for %d bytes, tree %d folders %d links", st, z.Len(), tree.Folders, tree.Links)
	}
	zr, err := zip.NewReader(bytes.NewReader(z.Bytes()), int64(z.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"bookmarks-2026-11-30.html": h, "bookmarks-2026-11-30.xbel": x}
	if len(zr.File) != 2 {
		t.Fatalf("zip holds %d files, want 2", len(zr.File))
	}
	for _, f := range zr.File {
		w, ok := want[f.Name]
		if !ok {
			t.Fatalf("unexpected file %q", f.Name)
		}
		if f.Method != zip.Deflate || !f.Modified.Equal(date) {
			t.Fatalf("%s: method %d modified %v", f.Name, f.Method, f.Modified)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("%s differs from WriteHTML/WriteXBEL output", f.Name)
		}
	}
	// Same input, same bytes (the mailer may rely on it for idempotent sends).
	var z2 bytes.Buffer
	if _, err := export.WriteZip(&z2, tree, export.ZipOptions{Date: date}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(z.Bytes(), z2.Bytes()) {
		t.Fatal("two renders of the same tree differ")
	}
	for _, lvl := range []int{-1, 10} {
		if _, err := export.WriteZip(io.Discard, tree, export.ZipOptions{Date: date, Level: lvl}); err == nil {
			t.Fatalf("level %d accepted", lvl)
		}
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, fmt.Errorf("disk full")
	}
	return len(p), nil
}

func TestWriteErrorsReturned(t *testing.T) {
	c := goldenCases()[2]
	tree, _ := export.BuildTree(c.member, c.folders, c.links)

	for name, f := range map[string]func(io.Writer) error{
		"html": func(w io.Writer) error { _, err := export.WriteHTML(w, tree); return err },
		"xbel": func(w io.Writer) error { _, err := export.WriteXBEL(w, tree); return err },
		"zip":  func(w io.Writer) error { _, err := export.WriteZip(w, tree, export.ZipOptions{}); return err },
	} {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}

		for _, n := range []int{0, 100, b.Len() / 2, b.Len() - 1} {
			if err := f(&failWriter{n: n}); err == nil {
				t.Fatalf("%s: write error after %d of %d bytes not returned", name, n, b.Len())
			}
		}
	}
}

func TestFileName(t *testing.T) {
	d := time.Date(2026, 1, 2, 23, 30, 0, 0, time.FixedZone("x", -3600)) // 2026-01-03 00:30 UTC
	if got := export.FileName(d, "xbel"); got != "bookmarks-2026-01-03.xbel" {
		t.Fatalf("FileName = %q", got)
	}
}

// TestBuilderReuse renders every golden case with one Builder, twice over and in both
// orders (large member after small and the reverse): the output must be the fresh
// BuildTree's every time.
func TestBuilderReuse(t *testing.T) {
	cases := goldenCases()
	var b export.Builder
	for _, order := range [][]goldenCase{cases, reversed(cases), cases} {
		for _, c := range order {
			_, _, wantH, wantX := render(t, c)
			tree, warns := b.Build(c.member, c.folders, c.links)
			var h, x bytes.Buffer
			if _, err := export.WriteHTML(&h, tree); err != nil {
				t.Fatal(err)
			}
			if _, err := export.WriteXBEL(&x, tree); err != nil {
				t.Fatal(err)
			}
			_, freshWarns := export.BuildTree(c.member, c.folders, c.links)
			if !bytes.Equal(h.Bytes(), wantH) || !bytes.Equal(x.Bytes(), wantX) || !bytes.Equal(formatWarnings(warns), formatWarnings(freshWarns)) {
				t.Fatalf("%s: a reused Builder renders differently", c.name)
			}
		}
	}
}

func reversed[T any](s []T) []T {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
