package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/zip"

	"github.com/linkagogo/linkbackup/internal/bookmarkgen"
	"github.com/linkagogo/linkbackup/internal/testenv"
)

// exportDB returns a generated database with hostile and inconsistent rows, and the
// ids of the members the export must select.
func exportDB(t *testing.T) (string, []int64, bookmarkgen.Stats) {
	t.Helper()
	o := bookmarkgen.DefaultOptions()
	o.Members, o.LinksPerMember, o.Inconsistent = 40, 12, true
	o.PremiumPercent, o.OptInPercent = 60, 80
	dsn, st := testenv.BookmarkDB(t, o)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, _ := c.Query(ctx, `SELECT id FROM members WHERE plan = 'premium' AND weekly_backup AND deleted_at IS NULL ORDER BY id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) < 5 {
		t.Fatalf("selected %v, %v", ids, err)
	}
	return dsn, ids, st
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func memberFiles(ids []int64, ext string) []string {
	var names []string
	for _, id := range ids {
		names = append(names, "member-"+strconv.FormatInt(id, 10)+"."+ext)
	}
	slices.Sort(names)
	return names
}

func TestExportCommand(t *testing.T) {
	dsn, ids, gst := exportDB(t)
	out := filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(out, ".tmp-member-1.zip-123")
	os.WriteFile(stale, []byte("half"), 0o600)

	stdout, stderr, code := run(t, "export", "--source", dsn, "--out", out, "--date", "2026-11-30", "--batch-size", "3",
		"--jobs", "3", "--log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, want := listDir(t, out), memberFiles(ids, "zip"); !slices.Equal(got, want) {
		t.Fatalf("files %v,\nwant %v (stale temp removed, one zip per selected member)", got, want)
	}
	if !strings.Contains(stdout, "exported members="+strconv.Itoa(len(ids))+" ") || !strings.Contains(stdout, "warnings=") {
		t.Fatalf("summary: %q", stdout)
	}
	for _, name := range memberFiles(ids, "zip") {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, want 0600 (bookmarks are private)", name, fi.Mode())
		}
		zr, err := zip.OpenReader(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, f := range zr.File {
			got = append(got, f.Name)
			rc, _ := f.Open()
			body, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || len(body) == 0 {
				t.Fatalf("%s/%s: %v", name, f.Name, err)
			}
		}
		zr.Close()
		if !slices.Equal(got, []string{"bookmarks-2026-11-30.html", "bookmarks-2026-11-30.xbel"}) {
			t.Fatalf("%s holds %v", name, got)
		}
	}

	// One warning per member and kind, with ids and never content.
	var a int64
	for _, an := range gst.Anomalies {
		if an.Kind == bookmarkgen.AnomalyFolderCycle {
			a = an.Member
		}
	}
	kinds := map[string]bool{}
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, `"level":"WARN"`) {
			continue
		}
		if strings.Contains(line, bookmarkgen.Canary) || strings.Contains(line, "http") {
			t.Fatalf("a warning shows content: %s", line)
		}
		var rec struct {
			Member int64   `json:"member_id"`
			Kind   string  `json:"kind"`
			IDs    []int64 `json:"ids"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if rec.Member != a || len(rec.IDs) == 0 || kinds[rec.Kind] {
			t.Fatalf("unexpected warning %s", line)
		}
		kinds[rec.Kind] = true
	}
	if !kinds["link-folder-missing"] || !kinds["folder-parent-missing"] || !kinds["folder-cycle"] {
		t.Fatalf("warnings %v, want link-folder-missing, folder-parent-missing and folder-cycle for member %d:\n%s", kinds, a, stderr)
	}

	// A second run replaces the files in place (same names, no temp left).
	if _, stderr, code := run(t, "export", "--source", dsn, "--out", out, "--date", "2026-11-30", "--log-level", "error"); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if got, want := listDir(t, out), memberFiles(ids, "zip"); !slices.Equal(got, want) {
		t.Fatalf("after the second run: %v", got)
	}
}

func TestExportFormatsAndOneMember(t *testing.T) {
	dsn, ids, gst := exportDB(t)
	for _, format := range []string{"html", "xbel"} {
		out := t.TempDir()
		if _, stderr, code := run(t, "export", "--source", dsn, "--out", out, "--format", format, "--log-level", "error"); code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, stderr)
		}
		if got, want := listDir(t, out), memberFiles(ids, format); !slices.Equal(got, want) {
			t.Fatalf("%s: files %v, want %v", format, got, want)
		}
		first, _ := os.ReadFile(filepath.Join(out, memberFiles(ids, format)[0]))
		prefix := map[string]string{"html": "<!DOCTYPE NETSCAPE-Bookmark-file-1>", "xbel": "<?xml"}[format]
		if !bytes.HasPrefix(first, []byte(prefix)) {
			t.Fatalf("%s file starts with %q", format, first[:min(len(first), 40)])
		}
	}

	out := t.TempDir()
	id := strconv.FormatInt(ids[len(ids)-1], 10)
	stdout, stderr, code := run(t, "export", "--source", dsn, "--out", out, "--member", id)
	if code != 0 || !slices.Equal(listDir(t, out), []string{"member-" + id + ".zip"}) || !strings.Contains(stdout, "members=1 ") {
		t.Fatalf("--member %s: exit %d, files %v, %s %s", id, code, listDir(t, out), stdout, stderr)
	}
	// A member the selection excludes (free plan, opted in) is refused, not exported.
	var free int64
	for _, an := range gst.Anomalies {
		if an.Kind == bookmarkgen.AnomalyFreeOptedIn {
			free = an.Member
		}
	}
	out = t.TempDir()
	_, stderr, code = run(t, "export", "--source", dsn, "--out", out, "--member", strconv.FormatInt(free, 10))
	if code != exitError || !strings.Contains(stderr, "not selected") || len(listDir(t, out)) != 0 {
		t.Fatalf("unselected member: exit %d, files %v, %s", code, listDir(t, out), stderr)
	}
}

func TestExportUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--out", "/tmp/x"}, "no source"},
		{[]string{"export", "--source", "postgres://u:topsecret@127.0.0.1:1/db"}, "no output directory"},
		{[]string{"export", "--source", "postgres://h/db", "--out", "/tmp/x", "--format", "pdf"}, "export.format"},
		{[]string{"export", "--source", "postgres://h/db", "--out", "/tmp/x", "--zip-level", "0"}, "export.zip_level"},
		{[]string{"export", "--source", "postgres://h/db", "--out", "/tmp/x", "--batch-size", "0"}, "export.batch_size"},
		{[]string{"export", "--source", "postgres://h/db", "--out", "/tmp/x", "--date", "30/11/2026"}, "--date"},
		{[]string{"export", "--source", "postgres://h/db", "--out", "/tmp/x", "--member", "-4"}, "--member"},
	} {
		_, stderr, code := run(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Fatalf("%v: exit %d, want %d with %q:\n%s", tc.args, code, exitUsage, tc.want, stderr)
		}
		if strings.Contains(stderr, "topsecret") {
			t.Fatalf("password printed: %s", stderr)
		}
	}
	t.Setenv("LINKBACKUP_EXPORT_MEMBER_QUERY", "SELECT id, email, display_name FROM members WHERE id = $1")
	if _, stderr, code := run(t, "export", "--source", "postgres://h/db", "--out", "/tmp/x"); code != exitUsage || !strings.Contains(stderr, "export.member_query") {
		t.Fatalf("query with $1: exit %d: %s", code, stderr)
	}
}

func TestExportUnreachableSource(t *testing.T) {
	out := t.TempDir()
	_, stderr, code := run(t, "export", "--source", "postgres://u:topsecret@127.0.0.1:1/db?connect_timeout=2", "--out", out)
	if code != exitError || !strings.Contains(stderr, "connect") || strings.Contains(stderr, "topsecret") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(listDir(t, out)) != 0 {
		t.Fatalf("files written: %v", listDir(t, out))
	}
}

func TestExportConfigDefaults(t *testing.T) {
	c := DefaultExportConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Format != "zip" || c.ZipLevel != 1 || c.BatchSize != 500 || !strings.Contains(c.MemberQuery, "weekly_backup") {
		t.Fatalf("defaults %+v", c)
	}
}
