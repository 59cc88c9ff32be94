// Command lookup is the mail benchmark's route lookup service: an nginx
// mail auth_http server (Zimbra's /service/extension/nginx-lookup path)
// that nginx's auth_http and Postern's route-lookup plugin both ask. Users
// u0..u(N-1), with or without a domain, get Auth-Status OK with
// Auth-Server 127.0.0.1 and the backend's port for their Auth-Protocol
// (imap or pop3, with or without "ssl"); anyone else gets "Invalid login or
// password". It keeps no per-request state, so it can serve a soak.
//
// -imap and -pop3 take one port or a comma-separated list: with several,
// user uN is routed to the (N mod count)-th, so the users are split across
// backends (bench/faults: u0, u2, ... on the first, u1, u3, ... on the second).
//
//	lookup -addr 127.0.0.1:7072 -imap 7143 -pop3 7110 -users 1000
//	lookup -addr 127.0.0.1:7072 -imap 7143,7144 -pop3 7110,7111 -users 200
//
// GET /stats answers {"lookups":N,"imap":N,"pop3":N,"refused":N}.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7072", "listen address")
	imapPorts := flag.String("imap", "7143", "the IMAP backend's port on 127.0.0.1, or a comma-separated list (user uN: the (N mod count)-th)")
	pop3Ports := flag.String("pop3", "7110", "the POP3 backend's port on 127.0.0.1, or a comma-separated list")
	users := flag.Int("users", 1000, "users u0..u(N-1) are known")
	flag.Parse()

	var lookups, imap, pop3, refused atomic.Int64
	imapP, pop3P := ports("-imap", *imapPorts), ports("-pop3", *pop3Ports)
	mux := http.NewServeMux()
	mux.HandleFunc("/service/extension/nginx-lookup", func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		h := w.Header()
		user := r.Header.Get("Auth-User")
		if i := strings.IndexByte(user, '@'); i >= 0 {
			user = user[:i]
		}
		n, err := strconv.Atoi(strings.TrimPrefix(user, "u"))
		known := strings.HasPrefix(user, "u") && err == nil && n >= 0 && n < *users
		var port string
		switch strings.TrimSuffix(r.Header.Get("Auth-Protocol"), "ssl") {
		case "imap":
			port = imapP[max(n, 0)%len(imapP)]
			imap.Add(1)
		case "pop3":
			port = pop3P[max(n, 0)%len(pop3P)]
			pop3.Add(1)
		}
		if !known || port == "" {
			refused.Add(1)
			h.Set("Auth-Status", "Invalid login or password")
			h.Set("Auth-Wait", "0")
			w.WriteHeader(http.StatusOK)
			return
		}
		h.Set("Auth-Status", "OK")
		h.Set("Auth-Server", "127.0.0.1")
		h.Set("Auth-Port", port)
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]int64{"lookups": lookups.Load(), "imap": imap.Load(),
			"pop3": pop3.Load(), "refused": refused.Load()})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("lookup ready", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// ports parses a port or a comma-separated list of ports.
func ports(flagName, list string) []string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 65535 {
			log.Fatalf("lookup: %s %q: not a port or a list of ports", flagName, list)
		}
		out = append(out, strconv.Itoa(n))
	}
	return out
}
