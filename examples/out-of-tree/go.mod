module example.com/postern-tenant-route

go 1.26.0

require github.com/postern/postern v0.0.0

require (
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	github.com/tetratelabs/wazero v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

// The SDK and the test helpers come from this checkout. A module outside
// the repository points this at its own clone, or drops the replace and
// requires a tagged version.
replace github.com/postern/postern => ../..
