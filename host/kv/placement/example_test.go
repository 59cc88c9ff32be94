package placement_test

import (
	"fmt"

	"github.com/postern/postern/host/kv/placement"
)

// Zimbra's proxy, two memcached servers, ZCS 10.1: the server comes from
// the raw key, the wire key is its SHA-256.
func Example() {
	servers := []string{"10.0.0.21:11211", "10.0.0.22:11211"}
	p, err := placement.New(placement.NameZimbraNginx, servers)
	if err != nil {
		panic(err)
	}
	key := "route:proto=imap;user=john@example.com"
	fmt.Println(servers[p.Server(key, nil)])
	fmt.Println(placement.KeySHA256.Wire(key)[:16] + "...")
	// With the first server down, its keys go to the next one.
	fmt.Println(servers[p.Server("route:proto=http;id=cc00ce85-8c0b-49eb-8e08-a8aab43ce836", func(i int) bool { return i == 0 })])
	// Output:
	// 10.0.0.22:11211
	// 64f9abb26b1519e6...
	// 10.0.0.22:11211
}
