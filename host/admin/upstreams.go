package admin

import "net/http"

// Upstreams is what a running node points at now, in the terms of the
// zmprov commands Postern answers (GET /upstreams; `postern garpu -node`
// and the others print it as they print the configuration file's).
type Upstreams struct {
	// LookupURLs: the route-lookup service URLs as host:port/path (garpu).
	LookupURLs []string `json:"lookup_urls"`
	// Backends: mail listeners' routes and web pools' backends, host:port
	// (garpb).
	Backends []string `json:"backends"`
	// SOAPURLs: the web backends' SOAP URLs (gamau).
	SOAPURLs []string `json:"soap_urls"`
	// Memcached: the store's servers (gamcs).
	Memcached []string `json:"memcached"`
}

func (s *Server) upstreams(w http.ResponseWriter, r *http.Request) {
	src := s.sources()
	if src.Upstreams == nil {
		httpError(w, http.StatusServiceUnavailable, "admin: upstreams: the proxy is not running yet; try again in a moment")
		return
	}
	u, err := src.Upstreams()
	if err != nil {
		httpError(w, http.StatusInternalServerError, "admin: upstreams: "+oneLine(err.Error()))
		return
	}
	for _, l := range []*[]string{&u.LookupURLs, &u.Backends, &u.SOAPURLs, &u.Memcached} {
		*l = nonNil(*l)
	}
	writeJSON(w, http.StatusOK, u)
}
