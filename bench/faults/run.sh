#!/usr/bin/env bash
# Fault tests (issue 11): IMAP login load through `postern run` with the
# standard chain in front of two real Dovecot backends, memcached and the
# auth_http lookup service, one fault per scenario, each with fresh
# processes: a plugin file replaced by a new build, SIGHUP three times,
# memcached stopped and resumed, the lookup service stopped and resumed,
# one Dovecot stopped and resumed, 10,000 idle pre-login connections.
# Prints each scenario and a table; exits non-zero when a login failed that
# should not have (bench/faults/README.md). Loopback only, bounded (about
# 40 s a scenario with its warm-up, 5 minutes in all). Not part of make test.
#   make faults                                  # = make build plugins, then this
#   bench/faults/run.sh
#   SCENARIOS=backend,idle bench/faults/run.sh    # some of them
# Knobs: SCENARIOS, RATE (20 logins/s), USERS (200), DURATION (18s), STOP (6s),
# TIMEOUT (20s), IDLE (10000), PRELOGIN (20000; -1: postern's default), KEEP=1 (keep the work directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
command -v memcached >/dev/null || missing+=(memcached)
command -v dovecot >/dev/null || [[ -x /usr/sbin/dovecot ]] || missing+=(dovecot-imapd)
if ((${#missing[@]})); then
  echo "bench/faults: missing ${missing[*]}: apt-get install ${missing[*]}" >&2
  exit 1
fi
[[ -x bin/postern ]] || { echo "bench/faults: run make build plugins first" >&2; exit 1; }
for p in login-normaliser throttle route-cache route-lookup; do
  [[ -e build/wasm/plugins/$p.wasm ]] || { echo "bench/faults: build/wasm/plugins/$p.wasm missing: run make build plugins first" >&2; exit 1; }
done

# 10,000 idle connections need 10,000 descriptors in the load generator and
# as many in postern: raise the soft limit to what the machine allows.
idle=${IDLE:-10000}
need=$((idle + 2048))
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < need)); then
  echo "bench/faults: the hard limit on open files is $hard; $idle idle connections need $need (raise it, or run with IDLE=$((hard - 2048)))" >&2
  exit 1
fi
ulimit -n "$need"

out=build/faults
mkdir -p "$out/alt"
go build -o "$out/mailload" ./bench/mailload
go build -o "$out/lookup" ./bench/mail/lookup
go build -o "$out/faults" ./bench/faults
# The plugin scenario copies another build of each plugin over the
# configured file: same source, a build ID of this run, so the bytes differ
# and postern must compile and swap it under load.
stamp=faults-$(date +%s)
for p in login-normaliser throttle route-cache route-lookup; do
  GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -ldflags="-buildid=$stamp" \
    -o "$out/alt/$p.wasm" "./plugins/$p"
done

pid=
# The driver kills everything it starts (process groups, and the kernel
# kills them if it dies); this trap makes sure the driver itself goes.
trap '[[ -n $pid ]] && kill -TERM $pid 2>/dev/null; wait 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
dur=${DURATION:-18}; [[ $dur =~ ^[0-9]+$ ]] && dur="${dur}s"
stop=${STOP:-6}; [[ $stop =~ ^[0-9]+$ ]] && stop="${stop}s"
timeout=${TIMEOUT:-20}; [[ $timeout =~ ^[0-9]+$ ]] && timeout="${timeout}s"
keep=false; [[ -n ${KEEP:-} && ${KEEP:-} != 0 ]] && keep=true
"$out/faults" -bin "$out" -alt "$out/alt" -out "$out" -scenarios "${SCENARIOS:-baseline,plugin,sighup,memcached,lookup,backend,idle}" \
  -rate "${RATE:-20}" -users "${USERS:-200}" -d "$dur" -stop "$stop" -timeout "$timeout" -idle "$idle" -prelogin "${PRELOGIN:-20000}" -keep=$keep &
pid=$!
wait $pid
rc=$?
pid=
exit $rc
