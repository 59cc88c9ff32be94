#!/usr/bin/env bash
# Web front end benchmark (issue 4): wrk, 64 connections, 1 KiB responses;
# direct, through Postern without plugins, and with a route and a rewrite
# plugin, and with the same plugins uninterruptible. Needs wrk (apt-get
# install wrk). Bounded: four 10 s runs.
#   bench/web/run.sh                 # from the repository root
#   DURATION=5s PROFILE=/tmp/web.pprof bench/web/run.sh
#   PROXY_ENV="GOGC=400 GOMAXPROCS=1" bench/web/run.sh   # environment of the proxies only
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "bench/web: wrk not found; apt-get install wrk" >&2; exit 1; }
out=build/bench
mkdir -p "$out"
go build -o "$out/webbench" ./bench/web
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$out/route-rewrite.wasm" ./host/web/testdata/guests/route-rewrite
args=(-wasm "$out/route-rewrite.wasm" -d "${DURATION:-10s}" -c 64 -t 2 -uninterruptible)
for kv in ${PROXY_ENV:-}; do args+=(-proxy-env "$kv"); done
if [[ -n "${PROFILE:-}" ]]; then args+=(-cpuprofile "$PROFILE"); fi
exec "$out/webbench" "${args[@]}"
