package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/backup"
)

// A whole restore's overlapping phases print in run order, each with its busy seconds.
func TestPhaseOrderBusy(t *testing.T) {
	ph := map[string]float64{"pre-data": 0.1, "data": 4, "data busy": 8, "indexes": 9, "indexes busy": 6,
		"proof": 9, "proof busy": 5, "constraints": 10, "constraints busy": 1, "analyze": 10.5, "analyze busy": 0.5,
		"sequences+analyze": 0.01, "other": 1}
	want := []string{"pre-data", "data", "indexes", "proof", "constraints", "analyze", "sequences+analyze", "other"}
	if got := phaseOrder(ph); !slices.Equal(got, want) {
		t.Fatalf("phaseOrder = %v, want %v", got, want)
	}
	var b bytes.Buffer
	writeRestoreReport(&b, "db", &backup.RestoreReport{ID: "x", Phases: ph}, nil)
	if !strings.Contains(b.String(), "phases: pre-data 0.10s, data 4.00s (busy 8.00s), indexes 9.00s (busy 6.00s)") {
		t.Fatalf("report:\n%s", b.String())
	}
}
