package admin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/storekeys"
)

// PurgeRequest names the logins whose cached routes to delete (Zimbra's
// zmproxypurge), with the proxy addresses and virtual hosts whose alias
// keys to delete too, and the account ids (zimbraId) whose web routes by
// auth token to delete (storekeys.AllID).
type PurgeRequest struct {
	Logins []string
	IPs    []string
	VHosts []string
	IDs    []string
}

// Validate checks the request as both the CLI and POST /purge-route need:
// at least one login or account id, IP addresses that parse, host names
// without spaces or slashes.
func (r PurgeRequest) Validate() error {
	if len(r.Logins) == 0 && len(r.IDs) == 0 {
		return errors.New("name at least one login (or account id) to purge")
	}
	for _, id := range r.IDs {
		if id == "" {
			return errors.New("an empty account id: name the zimbraId to purge")
		}
	}
	for _, l := range r.Logins {
		if l == "" {
			return errors.New("an empty login: name the login to purge")
		}
	}
	for _, ip := range r.IPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("ip %q is not an IP address", ip)
		}
	}
	for _, v := range r.VHosts {
		if v == "" || strings.ContainsAny(v, " /\t\r\n") {
			return fmt.Errorf("vhost %q is not a host name", v)
		}
	}
	return nil
}

// PurgeResult is the outcome for one key.
type PurgeResult struct {
	Key string `json:"key"`
	// Deleted is on how many servers the key was found and deleted.
	Deleted int `json:"deleted"`
	// Servers is how many servers were asked (1 for an in-process store).
	Servers int `json:"servers"`
	// Error is why some server could not be asked; "" on success.
	Error string `json:"error,omitempty"`
	err   error
}

// Err returns the error behind Error, for errors.Is.
func (r PurgeResult) Err() error { return r.err }

// everywhere is what kv.Memcached offers beyond kv.Store.
type everywhere interface {
	DeleteEverywhere(ctx context.Context, keys ...string) (int, error)
	Servers() []string
}

// PurgeRoutes deletes every route-cache key of each login in req
// (storekeys.All: the route for every protocol and the alias keys), then
// the web routes of each account id (storekeys.AllID), from st: on
// every server of a memcached store, or from an in-process store. It
// calls each, when not nil, after every key, and returns the results in
// order. It stops at the first context error; a server that fails is
// reported in that key's result and the purge goes on.
func PurgeRoutes(ctx context.Context, st kv.Store, req PurgeRequest, each func(PurgeResult)) ([]PurgeResult, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("purge-route: %w", err)
	}
	var out []PurgeResult
	var errs []error
	var keys [][]string
	for _, login := range req.Logins {
		keys = append(keys, storekeys.All(login, req.IPs, req.VHosts))
	}
	for _, id := range req.IDs {
		keys = append(keys, storekeys.AllID(id))
	}
	for _, ks := range keys {
		for _, k := range ks {
			res := purgeKey(ctx, st, k)
			out = append(out, res)
			if each != nil {
				each(res)
			}
			if res.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, res.err))
				if errors.Is(res.err, context.DeadlineExceeded) || errors.Is(res.err, context.Canceled) {
					return out, errors.Join(errs...)
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

func purgeKey(ctx context.Context, st kv.Store, k string) PurgeResult {
	res := PurgeResult{Key: k, Servers: 1}
	var err error
	if m, ok := st.(everywhere); ok {
		res.Servers = len(m.Servers())
		res.Deleted, err = m.DeleteEverywhere(ctx, k)
	} else {
		err = st.Delete(ctx, k)
		switch {
		case err == nil:
			res.Deleted = 1
		case errors.Is(err, kv.ErrNotFound):
			err = nil
		}
	}
	if err != nil {
		res.err = err
		res.Error = err.Error()
	}
	return res
}
