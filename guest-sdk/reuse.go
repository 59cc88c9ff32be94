package postern

import (
	"strconv"
	"time"

	"github.com/postern/postern/abi"
)

// ReuseDecisions declares, from an [OnInit] function, that the host may
// reuse this plugin's outcome of the login, throttle and route hooks for
// up to d for a later HTTP request with the same reuse key: the same
// listener, client address, Host, TLS server name, route and credentials
// (ABI 1.2, ABI.md "Decision reuse"). The host then enters none of the
// plugin's login, throttle and route hooks, nor its route_decided event,
// for such a request, as long as every plugin serving them declared a
// reuse; the shortest applies.
//
// Declare it only when the plugin decides the same for requests with the
// same key within d, whatever else differs (path, method, other headers),
// and when its store state may be that old: a route a cache read, a
// counter a throttle moved. d is rounded down to milliseconds; at most
// abi.MaxReuseMS; 0 declares none. A host before 1.2 returns
// abi.ErrUnknownField and reuses nothing, which is always correct; outside
// init it is abi.ErrNotAvailable.
func ReuseDecisions(d time.Duration) error {
	return Set(abi.FieldReuseMS, strconv.FormatInt(d.Milliseconds(), 10))
}
