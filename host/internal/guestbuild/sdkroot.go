package guestbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Module is the Postern module's path.
const Module = "github.com/postern/postern"

var (
	sdkRootOnce sync.Once
	sdkRoot     string
	sdkRootErr  error
)

// SDKRoot returns the directory of the Postern module the calling test
// builds against: the repository root when the test runs inside it, else
// where the go command resolves github.com/postern/postern for the
// calling module (its replace directive, or the module cache).
func SDKRoot() (string, error) {
	sdkRootOnce.Do(func() {
		root, err := Root()
		if err != nil {
			sdkRootErr = err
			return
		}
		if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err == nil && modulePath(b) == Module {
			sdkRoot = root
			return
		}
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Module)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			sdkRootErr = fmt.Errorf("guestbuild: go list -m %s in %s: %v", Module, root, err)
			return
		}
		sdkRoot = strings.TrimSpace(string(out))
		if sdkRoot == "" {
			sdkRootErr = fmt.Errorf("guestbuild: %s has no directory (run go mod download in %s)", Module, root)
		}
	})
	return sdkRoot, sdkRootErr
}

// modulePath returns the module path a go.mod declares.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			p := f[1]
			if strings.HasPrefix(p, `"`) {
				var err error
				if p, err = strconv.Unquote(p); err != nil {
					return ""
				}
			}
			if strings.ContainsAny(p, "\" \t") {
				return "" // not a module path
			}
			return p
		}
	}
	return ""
}
