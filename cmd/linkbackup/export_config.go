package main

// ExportConfig tunes `linkbackup export` (owned by the export command; see export.go).
type ExportConfig struct{}

// DefaultExportConfig returns the export defaults.
func DefaultExportConfig() ExportConfig { return ExportConfig{} }

// Validate checks export settings.
func (c *ExportConfig) Validate() error { return nil }
