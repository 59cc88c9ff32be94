package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// nodeTokenEnv names the environment variable the -node commands read the
// admin API's bearer token from (a command-line flag would show it in ps).
const nodeTokenEnv = "POSTERN_ADMIN_TOKEN"

// node is a running postern's admin API, for the commands that ask it
// (`postern call -node`, `postern garpb -node`).
type node struct {
	base  *url.URL
	token string
	http  *http.Client
}

// newNode checks the -node URL: http or https, a host, no path beyond /.
func newNode(raw string, timeout time.Duration) (*node, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("-node %q: want the admin API's base URL, such as http://127.0.0.1:9090", raw)
	}
	u.Path = ""
	return &node{base: u, token: os.Getenv(nodeTokenEnv), http: &http.Client{Timeout: timeout}}, nil
}

// String is the node's URL, for messages.
func (n *node) String() string { return n.base.String() }

// do sends a request to path and decodes a 200 answer's JSON into out.
// Any other status is an error with the API's message.
func (n *node) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.base.String()+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w (is postern running with its admin API there?)", n, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s%s: reading the answer: %w", n, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(b))
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (set " + nodeTokenEnv + " to admin.token)"
		}
		if resp.StatusCode == http.StatusNotFound {
			msg = "404 " + msg + " (a postern without this endpoint? it needs the same version as this command)"
		}
		return fmt.Errorf("%s%s: %s", n, path, msg)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s%s: the answer is not what postern sends: %w", n, path, err)
	}
	return nil
}
