// Package linkbackup holds what the whole module shares and that must sit at the module
// root: the reference bookmark schema (testdata/schema.sql), embedded for the generator,
// the demo and the tests.
package linkbackup

import _ "embed"

// BookmarkSchema is testdata/schema.sql: the reference LinkaGoGo schema.
//
//go:embed testdata/schema.sql
var BookmarkSchema string
