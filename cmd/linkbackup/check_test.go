package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestCLIInvariantsNightAndCheck: the CLI's default (the reference schema's invariants)
// on the real primary and standby. Night 1 swaps; a link moved into another member's
// folder makes night 2 exit 6 with the standby still serving night 1 and status
// CRITICAL naming the check and the row id; `check --target` on the source says the
// same (exit 6) with the store's record as baseline, and exit 0 once repaired; a
// configured invariant that does not parse is a usage error (exit 2) before the backup.
func TestCLIInvariantsNightAndCheck(t *testing.T) {
	src := genDB(t, 10, 10)
	storeDir := t.TempDir()
	store := "file://" + storeDir
	snapshots := func() int {
		ents, _ := os.ReadDir(filepath.Join(storeDir, "snapshots"))
		return len(ents)
	}
	server := testenv.StandbyDSN(t)
	name := standbyName(t, server)
	t.Setenv("LINKBACKUP_STANDBY_DATABASE", name)
	night := func(extra ...string) (string, string, int) {
		return run(t, append([]string{"nightly", "--source", src, "--store", store, "--standby", server}, extra...)...)
	}
	if out, errs, code := night(); code != 0 {
		t.Fatalf("night 1: exit %d\n%s\n%s", code, out, errs)
	}
	night1 := scalar[string](t, testenv.WithDatabase(t, server, name), "SELECT max(url) FROM links")
	linkID := scalar[int64](t, src, `UPDATE links SET folder_id = (SELECT min(f.id) FROM folders f WHERE f.member_id <> links.member_id),
		url = 'https://night2.example/' WHERE id = (SELECT min(id) FROM links WHERE folder_id IS NOT NULL) RETURNING id`)
	id := strings.TrimSpace(itoa64(linkID))

	out, errs, code := night()
	if code != exitInvariant || !strings.Contains(out+errs, "link_in_foreign_folder") {
		t.Fatalf("night 2: exit %d, want %d\n%s\n%s", code, exitInvariant, out, errs)
	}
	if got := scalar[string](t, testenv.WithDatabase(t, server, name), "SELECT max(url) FROM links"); got != night1 {
		t.Fatalf("the standby serves %q after the refusal, want night 1's %q", got, night1)
	}
	rep, scode := statusJSON(t, "--store", store, "--standby", server, "--database", name)
	if scode != 2 || !strings.Contains(rep.Summary, "link_in_foreign_folder") || !strings.Contains(rep.Summary, id) {
		t.Fatalf("status: exit %d %s", scode, rep.Summary)
	}
	text, _, _ := run(t, "status", "--store", store, "--standby", server, "--database", name)
	if !strings.Contains(text, "invariants of the refused copy") || !strings.Contains(text, "critical link_in_foreign_folder: 1 violation") {
		t.Fatalf("status text:\n%s", text)
	}

	out, errs, code = run(t, "check", "--target", src, "--store", store, "--database", name)
	if code != exitInvariant || !strings.Contains(out, "critical link_in_foreign_folder: 1 violation (last served copy: 0), e.g. ids "+id) {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "night2.example") {
		t.Fatalf("check printed row content:\n%s", out)
	}
	scalar[int64](t, src, `UPDATE links SET folder_id = NULL WHERE id = $1 RETURNING id`, linkID)
	if out, errs, code := run(t, "check", "--target", src, "--json"); code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("check after the repair: exit %d\n%s\n%s", code, out, errs)
	}

	before := snapshots()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("drill:\n  invariants:\n    - name: typo\n      sql: SELEC id FROM links\n"), 0o600)
	out, errs, code = night("--config", cfg)
	if code != exitUsage || !strings.Contains(errs, "typo") {
		t.Fatalf("bad invariant: exit %d\n%s\n%s", code, out, errs)
	}
	if snapshots() != before {
		t.Fatalf("the night ran a backup despite the bad invariant:\n%s", out)
	}
	if _, errs, code := run(t, "check", "--target", src, "--config", cfg); code != exitUsage || !strings.Contains(errs, "typo") {
		t.Fatalf("check with a bad invariant: exit %d\n%s", code, errs)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
