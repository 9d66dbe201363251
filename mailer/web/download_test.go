package web

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDownloads: a signed link streams its object; expired, forged, re-pointed,
// malformed and missing ones are all 404.
func TestDownloads(t *testing.T) {
	key := []byte("download-key-0123456789abcdef")
	rel := "2026-W48/member-42-0123456789abcdef0123456789abcdef.zip"
	objects := map[string]string{"exports/" + rel: "PK zip bytes", "snapshots/x/manifest.json": "secret"}
	d := &Downloads{Key: key, Open: func(_ context.Context, k string) (io.ReadCloser, error) {
		if v, ok := objects[k]; ok {
			return io.NopCloser(strings.NewReader(v)), nil
		}
		return nil, fs.ErrNotExist
	}}
	mux := http.NewServeMux()
	mux.Handle("GET "+DownloadPath+"{rel...}", d)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}
	good := SignDownload(key, srv.URL, rel, time.Now().Add(time.Hour))
	if code, body := get(good); code != 200 || body != "PK zip bytes" {
		t.Fatalf("signed link: %d %q", code, body)
	}
	other := "2026-W48/member-43-0123456789abcdef0123456789abcdef.zip"
	for name, u := range map[string]string{
		"expired":       SignDownload(key, srv.URL, rel, time.Now().Add(-time.Second)),
		"other key":     SignDownload([]byte("another-key-0123456789abcdef"), srv.URL, rel, time.Now().Add(time.Hour)),
		"re-pointed":    strings.Replace(good, "member-42", "member-43", 1),
		"missing":       SignDownload(key, srv.URL, other, time.Now().Add(time.Hour)),
		"not a zip key": SignDownload(key, srv.URL, "../snapshots/x/manifest.json", time.Now().Add(time.Hour)),
		"listing":       srv.URL + DownloadPath + "2026-W48/",
		"no signature":  srv.URL + DownloadPath + rel,
		"later expiry":  strings.Replace(good, "e=", "e=9", 1),
	} {
		if code, _ := get(u); code != 404 {
			t.Errorf("%s: %d, want 404", name, code)
		}
	}
}
