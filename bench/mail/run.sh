#!/usr/bin/env bash
# Mail login benchmark (issue 12): the same load against the same lookup
# service and backends, direct, through nginx's mail proxy (auth_http each
# login) and through Postern with the standard chain and memcached, rounds
# interleaved; prints each run and a table of medians. Bounded: RUNS rounds
# x protocols x 3 targets x (warm-up + 2 x DURATION + idle sessions).
# Needs nginx, libnginx-mod-mail and memcached (apt-get install nginx
# libnginx-mod-mail memcached), bin/postern and the plugins (make build plugins).
#   bench/mail/run.sh                        # from the repository root
#   RUNS=1 DURATION=2 bench/mail/run.sh      # a quick look
#   PROTOCOLS=imap CLIENTS=32 bench/mail/run.sh
#   POSTERN_ENV="GOGC=400" bench/mail/run.sh # environment of postern only
#   PROFILE=/tmp/mailprof bench/mail/run.sh   # CPU profiles of postern's main runs
# Knobs: RUNS (3), DURATION (seconds or a Go duration, 10), CLIENTS (16),
# PROTOCOLS (imap,pop3), TARGETS (direct,nginx,postern; postern-go: the Go plugin builds), USERS (1000),
# IDLE (2000 idle sessions; 0 skips), POSTERN_ENV, PROFILE (a directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
command -v nginx >/dev/null || missing+=(nginx)
[[ -e /usr/lib/nginx/modules/ngx_mail_module.so ]] || missing+=(libnginx-mod-mail)
command -v memcached >/dev/null || missing+=(memcached)
if ((${#missing[@]})); then
  echo "bench/mail: missing ${missing[*]}: apt-get install ${missing[*]}" >&2
  exit 1
fi
[[ -x bin/postern && -e build/wasm/plugins/route-lookup.wasm ]] || { echo "bench/mail: run make build plugins first" >&2; exit 1; }
out=build/bench
mkdir -p "$out/mail"
for p in mailload lightimap mail/lookup; do go build -o "$out/$(basename "$p")" "./bench/$p"; done
go build -o "$out/mailbench" ./bench/mail

dur=${DURATION:-10}
[[ $dur =~ ^[0-9]+$ ]] && dur="${dur}s"
pid=
# The driver kills everything it starts (process groups, and the kernel
# kills them if it dies); this trap makes sure the driver itself goes.
trap '[[ -n $pid ]] && kill -TERM $pid 2>/dev/null; wait 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
"$out/mailbench" -bin "$out" -out "$out/mail" -runs "${RUNS:-3}" -d "$dur" -c "${CLIENTS:-16}" \
  -protocols "${PROTOCOLS:-imap,pop3}" -targets "${TARGETS:-direct,nginx,postern}" \
  -users "${USERS:-1000}" -idle "${IDLE:-2000}" -postern-env "${POSTERN_ENV:-}" -profile "${PROFILE:-}" &
pid=$!
wait $pid
rc=$?
pid=
exit $rc
