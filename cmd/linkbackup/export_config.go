package main

import (
	"errors"
	"fmt"

	"github.com/linkagogo/linkbackup/export"
	"github.com/linkagogo/linkbackup/export/pgsource"
)

// ExportConfig tunes `linkbackup export` (see export.go). The source database is the
// top-level `source` (it may be the verified standby, to keep load off production).
type ExportConfig struct {
	// OutDir is the directory the command writes member-<id>.zip (or .html/.xbel) into;
	// created with mode 0700 when missing. Required by the command (--out). Default "".
	OutDir string `yaml:"out_dir"`
	// Format of the per-member file: "zip" (bookmarks-YYYY-MM-DD.html and .xbel in one
	// archive, what members receive), "html" or "xbel". Default "zip".
	Format string `yaml:"format"`
	// MemberQuery selects the members to export, one row each, columns id, email,
	// display_name; it is used as a subquery (no ORDER BY, LIMIT or $n). Default: premium,
	// opted in, not deleted: pgsource.DefaultMemberQuery =
	// "SELECT id, email, display_name FROM members WHERE plan = 'premium' AND weekly_backup AND deleted_at IS NULL".
	MemberQuery string `yaml:"member_query"`
	// FoldersQuery returns the folders, columns member_id, id, parent_id, name, position,
	// created_at, updated_at (only the selected members' rows are read). Default
	// pgsource.DefaultFolderQuery ("SELECT member_id, id, parent_id, name, position,
	// created_at, updated_at FROM folders").
	FoldersQuery string `yaml:"folders_query"`
	// LinksQuery returns the links, columns member_id, id, folder_id, url, title, notes,
	// tags, is_private, read_later, position, created_at, updated_at, last_visited_at.
	// Default pgsource.DefaultLinkQuery (those columns FROM links).
	LinksQuery string `yaml:"links_query"`
	// BatchSize is the number of members read per statement (keyset batches; memory holds
	// one member at a time whatever the size). Default 500.
	BatchSize int `yaml:"batch_size"`
	// Jobs is the number of members rendered and written in parallel; 0 means twice the
	// number of CPUs (writes wait on fsync). Default 0.
	Jobs int `yaml:"jobs"`
	// ZipLevel is the deflate level of the zip, 1 (fastest) to 9 (smallest). Default 1.
	ZipLevel int `yaml:"zip_level"`
}

// DefaultExportConfig returns the export defaults.
func DefaultExportConfig() ExportConfig {
	return ExportConfig{
		Format:       "zip",
		MemberQuery:  pgsource.DefaultMemberQuery,
		FoldersQuery: pgsource.DefaultFolderQuery,
		LinksQuery:   pgsource.DefaultLinkQuery,
		BatchSize:    pgsource.DefaultBatchSize,
		ZipLevel:     export.DefaultZipLevel,
	}
}

// Validate checks export settings.
func (c *ExportConfig) Validate() error {
	var errs []error
	switch c.Format {
	case "zip", "html", "xbel":
	default:
		errs = append(errs, fmt.Errorf("export.format (--format) %q: want zip, html or xbel", c.Format))
	}
	if c.BatchSize < 1 || c.BatchSize > 100_000 {
		errs = append(errs, fmt.Errorf("export.batch_size (--batch-size) = %d: want 1..100000", c.BatchSize))
	}
	if c.Jobs < 0 || c.Jobs > 256 {
		errs = append(errs, fmt.Errorf("export.jobs (--jobs) = %d: want 0 (2 x CPUs) .. 256", c.Jobs))
	}
	if c.ZipLevel < 1 || c.ZipLevel > 9 {
		errs = append(errs, fmt.Errorf("export.zip_level (--zip-level) = %d: want 1..9", c.ZipLevel))
	}
	for _, q := range []struct{ key, sql string }{
		{"export.member_query", c.MemberQuery}, {"export.folders_query", c.FoldersQuery}, {"export.links_query", c.LinksQuery},
	} {
		if err := pgsource.CheckQuery(q.sql); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.key, err))
		}
	}
	return errors.Join(errs...)
}

// queries returns the configured queries for pgsource.
func (c *ExportConfig) queries() pgsource.Queries {
	return pgsource.Queries{Members: c.MemberQuery, Folders: c.FoldersQuery, Links: c.LinksQuery}
}
