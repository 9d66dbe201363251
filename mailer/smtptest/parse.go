package smtptest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Parsed is a message taken apart with the standard library only.
type Parsed struct {
	Header      mail.Header
	Text, HTML  string
	Attachments map[string][]byte // by file name
	Types       map[string]string // attachment content types
}

// Parse decodes a message: headers, text and HTML bodies, attachments.
func Parse(raw []byte) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	p := &Parsed{Header: msg.Header, Attachments: map[string][]byte{}, Types: map[string]string{}}
	var walk func(ct, cte, disp string, r io.Reader) error
	walk = func(ct, cte, disp string, r io.Reader) error {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return fmt.Errorf("content-type %q: %w", ct, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(r, params["boundary"])
			for {
				part, err := mr.NextRawPart()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"),
					part.Header.Get("Content-Disposition"), part); err != nil {
					return err
				}
			}
		}
		var body []byte
		switch strings.ToLower(cte) {
		case "base64":
			body, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, r))
		case "quoted-printable":
			body, err = io.ReadAll(quotedprintable.NewReader(r))
		default:
			body, err = io.ReadAll(r)
		}
		if err != nil {
			return err
		}
		if disp != "" {
			_, dp, _ := mime.ParseMediaType(disp)
			p.Attachments[dp["filename"]] = body
			p.Types[dp["filename"]] = mt
			return nil
		}
		switch mt {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		}
		return nil
	}
	return p, walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body)
}
