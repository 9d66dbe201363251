package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// readRecord decodes the JSON record at key, reading at most limit bytes. A corrupt
// record's error reads "<what> <key> is corrupt: <cause><suffix>"; a missing one is the
// store's error (fs.ErrNotExist).
func readRecord[T any](ctx context.Context, st Store, key string, limit int64, what, suffix string) (*T, error) {
	rc, err := st.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var v T
	if err := json.NewDecoder(io.LimitReader(rc, limit)).Decode(&v); err != nil {
		return nil, fmt.Errorf("%s %s is corrupt: %w%s", what, key, err, suffix)
	}
	return &v, nil
}

// writeJSON stores v as indented JSON with a final newline under key (the records:
// pins, drills, point-in-time proofs).
func writeJSON(ctx context.Context, st Store, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = st.Put(ctx, key, bytes.NewReader(append(b, '\n')))
	return err
}
