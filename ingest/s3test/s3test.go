// Package s3test starts a real S3-compatible server (versitygw) on loopback
// for tests and returns an aws-sdk-go-v2 client configuration for it.
//
// The binary is found through $IDBATCH_VERSITYGW, then $PATH, then
// ~/.cache/idbatch/bin/versitygw (where .ci/run installs it). When it is
// missing, tests fail under CI (CI set) and are skipped elsewhere with the
// command that installs it.
package s3test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Install is the command that installs the server binary.
const Install = "GOBIN=$HOME/.cache/idbatch/bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is a running versitygw.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Dir       string // the posix backend directory: one folder per bucket
}

// Binary returns the path of the versitygw binary, or "".
func Binary() string {
	if p := os.Getenv("IDBATCH_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "idbatch", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start starts versitygw on a free loopback port for the duration of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "versitygw not found; install it with: " + Install
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := &Server{Endpoint: "http://" + addr, AccessKey: "idbatch-test", SecretKey: "idbatch-test-secret", Dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--port", addr, "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-done:
			t.Fatalf("versitygw exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not answer on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MkBucket creates a bucket through the posix backend (a directory).
func (s *Server) MkBucket(t testing.TB, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(s.Dir, name), 0o755); err != nil {
		t.Fatal(fmt.Errorf("bucket %s: %w", name, err))
	}
}

// Proxy is a reverse proxy on loopback in front of a Server, for faults the
// server will not produce by itself (503 SlowDown) and for counting
// requests. Requests keep their Host header, so SigV4 signatures made for
// the proxy's address verify at the server.
type Proxy struct {
	Endpoint string // http://127.0.0.1:PORT, to give the S3 client
	// Fault, when set, sees every request first: a non-zero status answers
	// it with that status and an S3 XML error of the given code instead of
	// forwarding it. It is called from several goroutines.
	Fault func(r *http.Request) (status int, code string)

	requests, faults, bodyBytes atomic.Int64
}

// Requests is the number of requests the proxy received; Faults how many
// of them it answered itself; BodyBytes the response body bytes it
// forwarded from the server.
func (p *Proxy) Requests() int64  { return p.requests.Load() }
func (p *Proxy) Faults() int64    { return p.faults.Load() }
func (p *Proxy) BodyBytes() int64 { return p.bodyBytes.Load() }

// Proxy starts a reverse proxy in front of s for the duration of the test.
func (s *Server) Proxy(t testing.TB) *Proxy {
	t.Helper()
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the Host header
	rp.ModifyResponse = func(resp *http.Response) error {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &p.bodyBytes}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if p.Fault != nil {
			if status, code := p.Fault(r); status != 0 {
				p.faults.Add(1)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(status)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by s3test.Proxy</Message><RequestId>s3test</RequestId></Error>`, code)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.Endpoint = srv.URL
	return p
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// Put writes an object straight into the posix backend (a file under the
// bucket's directory), which is much faster than PutObject for thousands
// of objects; the server lists and serves it like any other.
func (s *Server) Put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	p := filepath.Join(s.Dir, bucket, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
