package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/postern/postern/abi"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = ""

// cmdVersion prints "postern <version> (plugin ABI <major>.<minor>)".
func cmdVersion(stdout io.Writer) int {
	fmt.Fprintf(stdout, "postern %s (plugin ABI %d.%d)\n", buildVersion(), abi.VersionMajor, abi.VersionMinor)
	return exitOK
}

// buildVersion is the link-time version, else the module version or VCS
// revision the go command recorded, else "devel".
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}
