#!/usr/bin/env bash
# Mail soak (issue 12): Postern with the standard chain and memcached under
# mixed load for SOAK_MINUTES (default 30), loopback only: logins looping on
# 8 connections, 2,000 logged-in idle IMAP sessions, FETCH of a 100 KiB
# message (2 connections x 20/s) and HTTP GETs through the web front end
# (4 connections x 50/s). Samples logins/s, proxy CPU per login and RSS every
# SOAK_EVERY (default 30s) into build/bench/mail/soak.csv and compares the
# first and last 5 minutes: exits non-zero when the last 5 minutes' logins/s
# is more than 10% below the first's or RSS grew more than 20%.
#   bench/mail/soak.sh                            # from the repository root
#   SOAK_MINUTES=2 SOAK_EVERY=10s bench/mail/soak.sh   # a quick look
# Knobs: SOAK_MINUTES, SOAK_EVERY, SOAK_CLIENTS (8), USERS (1000), IDLE (2000), POSTERN_ENV.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v memcached >/dev/null || { echo "bench/mail: memcached not found: apt-get install memcached" >&2; exit 1; }
[[ -x bin/postern && -e build/wasm/plugins/route-lookup.wasm ]] || { echo "bench/mail: run make build plugins first" >&2; exit 1; }
out=build/bench
mkdir -p "$out/mail"
for p in mailload lightimap mail/lookup; do go build -o "$out/$(basename "$p")" "./bench/$p"; done
go build -o "$out/mailbench" ./bench/mail

pid=
trap '[[ -n $pid ]] && kill -TERM $pid 2>/dev/null; wait 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
"$out/mailbench" -bin "$out" -out "$out/mail" -soak "${SOAK_MINUTES:-30}m" -soak-every "${SOAK_EVERY:-30s}" \
  -soak-clients "${SOAK_CLIENTS:-8}" -users "${USERS:-1000}" -idle "${IDLE:-2000}" -postern-env "${POSTERN_ENV:-}" &
pid=$!
wait $pid
rc=$?
pid=
exit $rc
