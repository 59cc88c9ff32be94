package h2_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain raises -test.parallel (default GOMAXPROCS, 2 on small machines)
// unless it was given: most tests here wait on timers and on the server's
// graceful close (net/http waits 1s after a GOAWAY for the client to hang
// up), not on the CPU.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}
