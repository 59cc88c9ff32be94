#!/usr/bin/env bash
# Web front end benchmark (issues 4 and 13): wrk (HTTP/1.1) and h2load (h2),
# 64 connections, 1 KiB responses from two backends; directly, through
# Debian's nginx and through Postern (no plugins; the standard chain,
# anonymous and with a login whose route is cached), plain, HTTPS h1 and h2;
# RUNS runs of each, interleaved, medians printed. Needs wrk, h2load, nginx
# and memcached (apt-get install wrk nghttp2-client nginx memcached).
#   bench/web/run.sh                              # from the repository root
#   RUNS=5 DURATION=10s bench/web/run.sh
#   DURATION=3s RUNS=1 ONLY=chain bench/web/run.sh  # one quick pass of the chain runs
#   ONLY="nginx|anonymous" bench/web/run.sh      # several names, separated by |
#   PROFILE=/tmp/web.pprof bench/web/run.sh        # CPU profile of the chain proxy
#   PROXY_ENV="GOGC=400" bench/web/run.sh          # environment of the Postern proxies only
#   PROXY_ENV="GOMAXPROCS=1" bench/web/run.sh      # the proxies on one CPU (max_procs: 1 in postern run)
#   PROXY_ENV="WEB_SERVER=net/http" bench/web/run.sh # net/http's server, not the lean one (web.server)
#   PROXY_ENV="ACCESS_LOG=on" bench/web/run.sh     # build each access line (then discard it); default off, as nginx's
#   PLUGINS=go bench/web/run.sh                    # the Go builds of the plugins, not the bundled C ones
#   EACH_RUN=1 bench/web/run.sh                    # also every run's numbers (stderr), to see the spread
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in wrk h2load nginx memcached; do
	command -v "$tool" >/dev/null || { echo "bench/web: $tool not found; apt-get install wrk nghttp2-client nginx memcached" >&2; exit 1; }
done
out=build/bench
mkdir -p "$out/plugins"
go build -o "$out/webbench" ./bench/web
# PLUGINS=bundled (default): the builds `make bundle` deploys, the committed C build of a
# plugin where there is one, else its Go build; PLUGINS=go: every plugin's Go build.
for p in login-normaliser throttle route-cache route-lookup url-rewrite; do
	if [[ "${PLUGINS:-bundled}" == bundled && -e "plugins/$p/c/plugin.wasm" ]]; then
		cp "plugins/$p/c/plugin.wasm" "$out/plugins/$p.wasm"
	else
		GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$out/plugins/$p.wasm" "./plugins/$p"
	fi
done
args=(-wasm-dir "$out/plugins" -d "${DURATION:-10s}" -runs "${RUNS:-3}" -c 64 -t 2)
for kv in ${PROXY_ENV:-}; do args+=(-proxy-env "$kv"); done
if [[ -n "${PROFILE:-}" ]]; then args+=(-cpuprofile "$PROFILE"); fi
if [[ -n "${ONLY:-}" ]]; then args+=(-only "$ONLY"); fi
if [[ -n "${EACH_RUN:-}" ]]; then args+=(-each-run); fi
exec "$out/webbench" "${args[@]}"
