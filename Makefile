# Postern build. `make demo` and `make test` are the two commands a newcomer
# needs; the rest are building blocks. Every target works on a fresh clone
# once .ci/run's packages are installed.

GO        ?= go
GOFLAGS   ?=
WASM_DIR  := build/wasm
# Every Go plugin: bundled plugins, examples, the SDK's example, and the
# host's test guests. A directory is a plugin when it holds a main.go.
# examples/out-of-tree is a module of its own: its tests build it (make test).
PLUGIN_DIRS := $(sort $(shell find plugins examples guest-sdk/example host/plugin/testdata/guests \
                 -name main.go -not -path '*/node_modules/*' -not -path 'examples/out-of-tree/*' 2>/dev/null | xargs -r -n1 dirname))
PLUGIN_WASM := $(PLUGIN_DIRS:%=$(WASM_DIR)/%.wasm)
GUEST_SRC   := $(shell find guest-sdk abi -name '*.go') go.mod

.PHONY: all build plugins test out-of-tree-test vet bench bench-mail soak faults fuzz demo fixtures clean help

all: build plugins

help:
	@echo "make demo      the proxy, the bundled plugins and demo mail and web servers in one process"
	@echo "make test      vet and run every test (needs memcached; .ci/run installs it)"
	@echo "make build     the postern binary in bin/"
	@echo "make bundle    the bundled plugins as deployed, in build/plugins/ (C builds where they exist)"
	@echo "make plugins   every Go plugin to $(WASM_DIR)/<dir>.wasm"
	@echo "make bench     the benchmarks whose numbers the issues ask for (wrk for the web one)"
	@echo "make bench-mail  mail logins: direct, nginx mail proxy, Postern side by side (nginx, libnginx-mod-mail, memcached)"
	@echo "make soak      Postern under mixed mail and web load for SOAK_MINUTES (default 30)"
	@echo "make faults    login load through Postern while faults are injected, one at a time (dovecot-imapd, memcached)"
	@echo "make fuzz      each fuzz target for FUZZTIME (default 10s)"
	@echo "make fixtures  rebuild the committed .wasm fixtures from WAT and C (needs wabt, clang, wasi-libc)"

build: bin/postern

bin/postern: $(shell find host abi -name '*.go' -not -path '*/testdata/*') go.mod
	$(GO) build $(GOFLAGS) -o $@ ./host/cmd/postern

plugins: $(PLUGIN_WASM)

# The bundled plugins' C builds (plugins/<name>/c/plugin.c -> plugin.wasm,
# committed like the other fixtures; tests check they match their source).
# They need clang, lld and wasi-libc; `make plugins` does not.
C_PLUGIN_SRC  := $(wildcard plugins/*/c/plugin.c)
C_PLUGIN_WASM := $(C_PLUGIN_SRC:.c=.wasm)
WASM_CFLAGS   := --target=wasm32-wasi -O2 -mexec-model=reactor -nodefaultlibs -lc -Wl,--strip-debug -Wall -Werror -I guest-sdk/c

c-plugins: $(C_PLUGIN_WASM)

# The bundled plugins as deployed, one file each in build/plugins/: the
# committed C build where a plugin has one (small and fast; see
# RATIONALE.md), else its Go build.
BUNDLED := login-normaliser throttle route-cache route-lookup url-rewrite oauth
bundle: plugins
	@mkdir -p build/plugins
	@for p in $(BUNDLED); do \
	  if [ -e plugins/$$p/c/plugin.wasm ]; then src=plugins/$$p/c/plugin.wasm; else src=$(WASM_DIR)/plugins/$$p.wasm; fi; \
	  cp $$src build/plugins/$$p.wasm && echo "build/plugins/$$p.wasm <- $$src"; \
	done

plugins/%/c/plugin.wasm: plugins/%/c/plugin.c $(wildcard guest-sdk/c/*.h) $(wildcard plugins/internal/*/*.h)
	clang $(WASM_CFLAGS) -o $@ $<

# Second expansion lets the prerequisites name the plugin's own sources.
.SECONDEXPANSION:

# One rule per plugin directory: rebuilt when its sources, the SDK or the ABI change.
$(WASM_DIR)/%.wasm: $(GUEST_SRC) $$(wildcard %/*.go)
	@mkdir -p $(dir $@)
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -trimpath -o $@.tmp ./$*
	@mv $@.tmp $@

vet:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./guest-sdk/... ./abi/...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

# go test ./... runs guest-sdk/rust and the Rust conformance guest too (rustc
# builds cached in build/rust/); examples/out-of-tree is a nested module,
# which ./... does not enter.
test: vet plugins
	$(GO) test -count=1 ./...
	# host/web once more with a goroutine per connection everywhere (web.event_loop: false)
	POSTERN_WEB_EVENT_LOOP=off $(GO) test -count=1 ./host/web
	# the h2 server's suite once more with its connections driven, as the event loops drive them
	H2TEST_SERVER=driven $(GO) test -count=1 ./host/web/internal/h2
	$(GO) test -count=1 ./host/plugin/testdata/guests/...
	$(MAKE) out-of-tree-test

# examples/out-of-tree requires this module through a replace, so its go.mod
# and go.sum follow ours: a dependency added here is added there first (from
# our go.sum and the module cache, offline), then its tests run.
out-of-tree-test:
	cd examples/out-of-tree && cp ../../go.sum go.sum && GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off $(GO) mod tidy
	cd examples/out-of-tree && $(GO) vet ./... && $(GO) test -count=1 ./...

# Benchmarks named by the issues; numbers go into the closing notes.
BENCHTIME ?= 2s
bench: plugins
	$(GO) test -run '^$$' -bench 'Hook_|Instance_|Loop' -benchtime $(BENCHTIME) -benchmem ./host/plugin
	$(GO) test -run '^$$' -bench 'Reload' -benchtime 5x ./host/plugin
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./host/kv
	$(GO) test -run '^$$' -bench Wasm_Hook -benchtime $(BENCHTIME) -benchmem ./plugins/throttle ./plugins/url-rewrite ./plugins/login-normaliser
	$(GO) test -run '^$$' -bench RouteChain -benchtime $(BENCHTIME) -benchmem ./host/internal/authhttp
	POSTERN_BENCH=1 $(GO) test -run TestBench_mail -count=1 -v -timeout 15m ./host/mail | grep -E '^\s+(\||Idle)' || true
	bench/web/run.sh
	$(MAKE) bench-mail

# Issue 12: mail logins direct, through nginx's mail proxy and through
# Postern with the standard chain, side by side (bench/mail/README.md).
# Knobs: RUNS, DURATION, CLIENTS, PROTOCOLS. Not part of `make test`.
bench-mail: build plugins
	bench/mail/run.sh

# Postern under mixed load for SOAK_MINUTES (default 30); fails when
# logins/s fall or RSS grows (bench/mail/README.md).
soak: build plugins
	bench/mail/soak.sh

# Issue 11: IMAP logins through Postern (standard chain, memcached, two
# Dovecot backends, the lookup service) while one fault at a time is
# injected; fails when a login fails that should not (bench/faults/README.md).
# About 5 minutes, loopback only. Knobs: SCENARIOS, RATE, STOP, TIMEOUT, IDLE.
# Not part of `make test`.
faults: build plugins
	bench/faults/run.sh

# Every `func FuzzX` in the module, each for FUZZTIME.
FUZZTIME ?= 10s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v testdata | grep -v '^./examples/out-of-tree/'); do \
	  pkg=./$$(dirname $$f); \
	  for name in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
	    echo "== $$pkg $$name"; \
	    $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done
	@echo "== examples/out-of-tree FuzzParseConfig (its own module)"
	cd examples/out-of-tree && $(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./tenant-route

# The proxy, the bundled plugins and demo backends in one process, until
# Ctrl-C; it prints curl commands to try. DEMO_FLAGS: -addr-base N (fixed
# ports N+143, N+110, N+443, N+90), -for 10m.
DEMO_FLAGS ?=
demo: bin/postern bundle
	bin/postern demo $(DEMO_FLAGS)

fixtures: c-plugins
	cd abi/testdata && ./build.sh
	cd conformance/testdata && ./build.sh
	clang --target=wasm32-wasi -O2 -mexec-model=reactor -nodefaultlibs -lc -Wl,--strip-debug -I guest-sdk/c \
	  -o conformance/testdata/guests/c/guest.wasm conformance/testdata/guests/c/guest.c
	clang --target=wasm32-wasi -O2 -mexec-model=reactor -nodefaultlibs -lc -Wl,--strip-debug -I guest-sdk/c \
	  -o examples/c-plugin/plugin.wasm examples/c-plugin/src/plugin.c
	wat2wasm examples/wat-plugin/maintenance.wat -o examples/wat-plugin/maintenance.wasm

clean:
	rm -rf bin build
