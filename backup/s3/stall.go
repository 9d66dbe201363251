package s3

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// DefaultTimeout is the no-progress timeout when Config.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// stallProofClient is the SDK's HTTP client whose connections fail a read or a write that
// moves no byte within timeout: an endpoint that accepts connections and then sends
// nothing (a stopped process, a black-holed network) cannot hang a night. Waiting for
// response headers is bounded the same way; idle pooled connections are closed before
// their read deadline could fire.
func stallProofClient(timeout time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, idle: timeout}, nil
		}
		tr.ResponseHeaderTimeout = timeout
		tr.IdleConnTimeout = timeout / 2
	})
}

// idleConn gives every Read and Write a deadline of idle from its start.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// namedBody names the store and the object in a failed read of a download (a stalled
// stream, a reset connection).
type namedBody struct {
	io.ReadCloser
	what string
}

func (b *namedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", b.what, err)
	}
	return n, err
}
