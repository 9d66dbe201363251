package clihint_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
	"github.com/linkagogo/linkbackup/internal/clihint"
)

// TestEveryFixHasAHint reads backup/fix.go: every Fix constant the library declares has
// wording here, so no refusal reaches an operator without its flag.
func TestEveryFixHasAHint(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../backup/fix.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(x ast.Node) bool {
		vs, ok := x.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Fix" {
			return true
		}
		lit := vs.Values[0].(*ast.BasicLit).Value
		n++
		if clihint.Text(backup.Fix(strings.Trim(lit, `"`)), "x") == "" {
			t.Errorf("%s (%s) has no hint", vs.Names[0].Name, lit)
		}
		return true
	})
	if n < 10 {
		t.Fatalf("found only %d Fix constants in backup/fix.go", n)
	}
}

func TestMessageAppendsTheHintOfTheWrappedFix(t *testing.T) {
	inner := &backup.FixableError{Fix: backup.FixDropSchemas, Arg: "bookmarks",
		Err: fmt.Errorf("%w: target database bookmarks is not empty (3 tables, views or sequences); restore into a new database (createdb)", backup.ErrRefused)}
	err := fmt.Errorf("restore: %w", inner)
	want := "restore: restore refused: target database bookmarks is not empty (3 tables, views or sequences); " +
		"restore into a new database (createdb), or pass --force to DROP every schema of bookmarks first"
	if got := clihint.Message(err); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if got := clihint.Message(errors.New("plain")); got != "plain" {
		t.Fatalf("plain error: %q", got)
	}
	if !errors.Is(err, backup.ErrRefused) {
		t.Fatal("FixableError hides the sentinel")
	}
}
