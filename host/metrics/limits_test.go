package metrics

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postern/postern/host/connlimit"
)

func TestCollector_Limits(t *testing.T) {
	r := connlimit.New()
	r.SetMaxSessions(3)
	lim := &connlimit.Limits{MaxPerClient: 1, MaxEarly: 2}
	a := netip.MustParseAddr("192.0.2.1")
	imap := r.Listener("imap")
	tk, _ := imap.Admit(a, lim)
	tk.Establish()
	imap.Admit(a, lim) // per_client
	https := r.Listener("https")
	https.SetEarlyLabel("pre_request")
	https.Admit(netip.Addr{}, lim)
	https.Admit(netip.Addr{}, lim)
	https.Admit(netip.Addr{}, lim)              // pre_request
	r.Listener("pop3").Admit(netip.Addr{}, lim) // global

	c := New("test")
	c.Set(Sources{Limits: r})
	want := `
# HELP postern_connections_refused_total Client connections refused by a connection limit, by listener and reason: per_client (mail.limits.max_connections_per_client, web.max_connections_per_client), pre_login (mail.limits.max_prelogin), pre_request (web.max_pre_request), per_listener (max_connections), global (limits.max_sessions).
# TYPE postern_connections_refused_total counter
postern_connections_refused_total{listener="https",reason="global"} 0
postern_connections_refused_total{listener="https",reason="per_client"} 0
postern_connections_refused_total{listener="https",reason="per_listener"} 0
postern_connections_refused_total{listener="https",reason="pre_request"} 1
postern_connections_refused_total{listener="imap",reason="global"} 0
postern_connections_refused_total{listener="imap",reason="per_client"} 1
postern_connections_refused_total{listener="imap",reason="per_listener"} 0
postern_connections_refused_total{listener="imap",reason="pre_login"} 0
postern_connections_refused_total{listener="pop3",reason="global"} 1
postern_connections_refused_total{listener="pop3",reason="per_client"} 0
postern_connections_refused_total{listener="pop3",reason="per_listener"} 0
postern_connections_refused_total{listener="pop3",reason="pre_login"} 0
# HELP postern_connections_open Client connections open now, by listener and state: pre_login (mail, not logged in yet), pre_request (web, no request yet) or established.
# TYPE postern_connections_open gauge
postern_connections_open{listener="https",state="established"} 0
postern_connections_open{listener="https",state="pre_request"} 2
postern_connections_open{listener="imap",state="established"} 1
postern_connections_open{listener="imap",state="pre_login"} 0
postern_connections_open{listener="pop3",state="established"} 0
postern_connections_open{listener="pop3",state="pre_login"} 0
# HELP postern_sessions_open Mail sessions and web connections open now in the process, the count limits.max_sessions caps.
# TYPE postern_sessions_open gauge
postern_sessions_open 3
# HELP postern_sessions_max limits.max_sessions (0: no cap).
# TYPE postern_sessions_max gauge
postern_sessions_max 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"postern_connections_refused_total", "postern_connections_open", "postern_sessions_open", "postern_sessions_max"); err != nil {
		t.Error(err)
	}
}
