package mailer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/linkagogo/linkbackup/internal/atomicfile"
	"github.com/wneessen/go-mail"
)

// File is a Transport that writes each message to DIR/<message-id>.eml (the id
// without angle brackets, unsafe characters replaced by "_"). The write is atomic
// (temp file, fsync, rename, fsync of the directory) and the name is a function of
// the Message-ID, so sending the same message twice leaves one file.
type File struct {
	dir string
}

var _ Transport = (*File)(nil)

// NewFile returns a File transport writing into dir (created if missing).
func NewFile(dir string) (*File, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("mailer: file transport: %q is not absolute", dir)
	}
	// The outbox holds members' links: only its owner may read it.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailer: file transport: %w", err)
	}
	return &File{dir: filepath.Clean(dir)}, nil
}

// Dir is the outbox directory.
func (f *File) Dir() string { return f.dir }

func (f *File) String() string { return "file://" + filepath.ToSlash(f.dir) }

// Close does nothing.
func (f *File) Close() error { return nil }

// FileName returns the file name a message with this Message-ID is written to.
func FileName(messageID string) string {
	id := strings.Trim(messageID, "<> ")
	b := []byte(id)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._@+=", c) >= 0
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] == '.' {
		b = append([]byte("msg"), b...)
	}
	return string(b) + ".eml"
}

// Send writes msg to the outbox.
func (f *File) Send(ctx context.Context, msg *mail.Msg) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, &SendError{Stage: StageWrite, Err: err, Reply: err.Error()}
	}
	if _, err := msg.GetRecipients(); err != nil {
		return Result{}, &SendError{Stage: StageCompose, permanent: true, Err: fmt.Errorf("%w: recipients: %v", ErrInvalidAddress, err)}
	}
	id := msg.GetMessageID()
	if id == "" {
		return Result{}, &SendError{Stage: StageCompose, permanent: true, Err: fmt.Errorf("mailer: file transport needs a Message-ID")}
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return Result{}, &SendError{Stage: StageCompose, Err: err, Reply: err.Error()}
	}
	path := filepath.Join(f.dir, FileName(id))
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return Result{}, &SendError{Stage: StageWrite, Err: err, Reply: err.Error()}
	}
	return Result{Reply: "written to " + path, Size: int64(buf.Len())}, nil
}
