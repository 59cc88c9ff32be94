package storekeys_test

import (
	"fmt"

	"github.com/postern/postern/storekeys"
)

func Example() {
	fmt.Println(storekeys.ThrottleUser("bob@example.com"))
	fmt.Println(storekeys.ThrottleUser("a b"))
	fmt.Println(storekeys.ThrottleUser("a%20b"))
	fmt.Println(storekeys.ThrottleIP("imap", "192.0.2.7"))
	fmt.Println(storekeys.Route("imap", "bob smith"))
	fmt.Println(storekeys.WebAlias("bob", "mail.example.com"))
	// Output:
	// throttle:user=bob@example.com
	// throttle:user=a%20b
	// throttle:user=a%2520b
	// throttle:proto=i,ip=192.0.2.7
	// route:proto=imap;user=bob%20smith
	// alias:user=bob;vhost=mail.example.com
}
