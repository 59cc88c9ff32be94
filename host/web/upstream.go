package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// newTransport returns a transport to backends with the web-level
// settings. Its dial timeout is the route's (dial); its response header
// timeout is the longest any route allows (hdrMax), and the upstream
// transport times shorter ones per request.
func (s *Server) newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                  nil, // never from the environment
		DialContext:            s.dial,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    s.cfg.UpstreamIdleConns,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    s.cfg.UpstreamDialTimeout,
		ResponseHeaderTimeout:  s.hdrMax,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // pass Accept-Encoding and bodies through untouched
		MaxResponseHeaderBytes: int64(s.cfg.MaxHeaderBytes),
	}
}

// dial connects to a backend within the dial timeout of the request's
// route (the transport dials with the request's context values).
func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &s.dialer
	if st := stateFrom(ctx); st != nil && st.rt != nil && st.rt.dialTimeout > 0 {
		dd := s.dialer
		dd.Timeout = st.rt.dialTimeout
		d = &dd
	}
	return d.DialContext(ctx, network, addr)
}

// upstreamTLS builds the client TLS configuration of a pool. Files are
// read once, here: a configuration reload reads them again.
func upstreamTLS(c PoolTLS) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, // #nosec G402 -- the operator's explicit, documented choice
		NextProtos:         []string{"h2", "http/1.1"},
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", c.CAFile)
		}
		tc.RootCAs = roots
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// isTLSFailure reports whether err is a failed TLS handshake with a
// backend: a certificate that did not verify, a name mismatch, or an
// alert from the backend (one that wanted a client certificate).
func isTLSFailure(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var ae tls.AlertError
	var rh tls.RecordHeaderError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		errors.As(err, &ae) || errors.As(err, &rh) {
		return true
	}
	// An alert the backend sent ("certificate required" under TLS 1.3
	// arrives after the handshake, on the first read).
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// errBodyTimeout is Config.UpstreamReadTimeout passing with no more of a
// response body from the backend (the event loop's; a goroutine's read
// gets the socket's deadline error).
var errBodyTimeout = errors.New("no more of the body for upstream_read_timeout")

// readTimeoutKey is the context key of a route's read_timeout for the
// lean client (h1Client.exchange), set only where it differs from
// UpstreamReadTimeout.
type readTimeoutKey struct{}

// errHeaderTimeout is a route's response header timeout expiring.
var errHeaderTimeout error = headerTimeoutError{}

type headerTimeoutError struct{}

func (headerTimeoutError) Error() string {
	return "timeout awaiting response headers (route header_timeout)"
}
func (headerTimeoutError) Timeout() bool   { return true }
func (headerTimeoutError) Temporary() bool { return true }

// roundTripWithin runs one attempt with a response header timeout
// shorter than the transport's: the attempt's context is cancelled when
// d passes before the response headers arrive, and left alone after
// (the body streams for as long as it takes).
func roundTripWithin(base http.RoundTripper, req *http.Request, d time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	t := time.AfterFunc(d, func() { cancel(errHeaderTimeout) })
	resp, err := base.RoundTrip(req.WithContext(ctx))
	if !t.Stop() {
		// The timer fired: the headers were late, or arrived just as it
		// fired (then the body is cut already).
		if err == nil {
			resp.Body.Close()
		}
		return nil, errHeaderTimeout
	}
	if err != nil {
		cancel(nil)
	}
	return resp, err
}

// CheckTLSFiles reads the CA and client certificate files of every pool
// with TLS, as New does, and returns every problem, each naming the pool
// (`postern check` runs it; Validate reads no file).
func (c *Config) CheckTLSFiles() error {
	var errs []error
	for i, p := range c.Pools {
		if !p.TLS.Enabled {
			continue
		}
		if _, err := upstreamTLS(p.TLS); err != nil {
			errs = append(errs, fmt.Errorf("web: pools[%d] (%s).tls: %w", i, p.Name, err))
		}
	}
	return errors.Join(errs...)
}
