package weekly

import (
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
)

// The state schema's comment is what makes backups leave it out: keep the two in step.
func TestSchemaCommentMarksStateForBackups(t *testing.T) {
	if !strings.HasPrefix(SchemaComment, backup.StateSchemaPrefix) {
		t.Fatalf("SchemaComment %q does not start with backup.StateSchemaPrefix %q", SchemaComment, backup.StateSchemaPrefix)
	}
}
