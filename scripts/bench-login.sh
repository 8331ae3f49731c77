#!/usr/bin/env bash
# Login-flood benchmark: does password hashing stall the async workers?
#
# Starts a release build of Berth on a free port with a throwaway data folder, creates
# $CLIENTS users, then measures /healthz latency with `wrk --latency` twice in the same run:
#   1. idle, and
#   2. while `examples/login_flood.rs` has $CLIENTS clients signing in continuously with
#      correct passwords (every login is a full argon2id verification).
# Target: flood p99 <= 3 x idle p99. Prints both latency distributions, the ratio, the login
# throughput and status codes, the CPU time per server thread during the flood, and a
# Markdown block to paste into BENCHMARKS.md.
#
# Usage (from anywhere; runs from the repository root):  scripts/bench-login.sh
# Knobs (environment): CLIENTS=50 FLOOD_SECONDS=35 RAMP_SECONDS=5 WRK_SECONDS=20
#                      WRK_THREADS=1 WRK_CONNECTIONS=4 PORT=<free port> SKIP_BUILD=1
#                      WRK_DELAY_MS=<ms>: pace each wrk connection (default: closed loop)
#                      WRK_PATH=/healthz: the path wrk measures (e.g. /static/berth.css, no DB)
# Exit status: 0 target met, 1 target not met, 2 invalid run (a login was not a 303, a
# /healthz answer was not 200, or a tool failed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C

CLIENTS=${CLIENTS:-50}
FLOOD_SECONDS=${FLOOD_SECONDS:-35}
RAMP_SECONDS=${RAMP_SECONDS:-5}
WRK_SECONDS=${WRK_SECONDS:-20}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-4}
WRK_DELAY_MS=${WRK_DELAY_MS:-}
WRK_PATH=${WRK_PATH:-/healthz}
USER_PREFIX=floodusr
PASSWORD='correct horse battery staple'
TARGET_RATIO=3

log() { printf '\n==> %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk
fi

if [[ -z "${SKIP_BUILD:-}" ]]; then
  log "cargo build --release --bins --examples"
  cargo build --release --bins --examples
fi
BERTH=target/release/berth
FLOOD=target/release/examples/login_flood
[[ -x $BERTH && -x $FLOOD ]] || { echo "missing $BERTH or $FLOOD" >&2; exit 2; }

WORK=$(mktemp -d -t berth-bench.XXXXXX)
SERVER_PID=""
FLOOD_PID=""
cleanup() {
  [[ -n $FLOOD_PID ]] && kill "$FLOOD_PID" 2>/dev/null || true
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port_in_use() { (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
if [[ -z "${PORT:-}" ]]; then
  PORT=$((20000 + RANDOM % 20000))
  while port_in_use "$PORT"; do PORT=$((20000 + RANDOM % 20000)); done
fi
BASE=http://127.0.0.1:$PORT
export BERTH_DATA=$WORK/data

log "creating $CLIENTS users ${USER_PREFIX}1..${USER_PREFIX}${CLIENTS} in $BERTH_DATA"
for i in $(seq 1 "$CLIENTS"); do
  printf '%s\n' "$PASSWORD" | "$BERTH" user add "$USER_PREFIX$i" --email "$USER_PREFIX$i@example.com" --password-stdin >/dev/null
done

log "starting berth on $BASE"
BERTH_BIND=127.0.0.1:$PORT "$BERTH" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 2; }
  sleep 0.1
done
curl -fsS "$BASE/healthz" >/dev/null

WRK=(wrk "-t$WRK_THREADS" "-c$WRK_CONNECTIONS" "-d${WRK_SECONDS}s" --latency)
if [[ -n $WRK_DELAY_MS ]]; then
  # Paced load: each connection waits WRK_DELAY_MS before its next request (wrk's Lua
  # `delay` hook; the wait is not counted in the latency), instead of a closed loop.
  printf 'function delay()\n  return %s\nend\n' "$WRK_DELAY_MS" >"$WORK/pace.lua"
  WRK+=(-s "$WORK/pace.lua")
fi
WRK+=("$BASE$WRK_PATH")
FLOOD_CMD=("$FLOOD" "$BASE" "$CLIENTS" "$FLOOD_SECONDS" "$USER_PREFIX" "$CLIENTS" "$PASSWORD")

log "warm-up: 5 s of wrk on /healthz, 4 s of login flood"
wrk "-t$WRK_THREADS" "-c$WRK_CONNECTIONS" -d5s "$BASE/healthz" >/dev/null
"$FLOOD" "$BASE" "$CLIENTS" 4 "$USER_PREFIX" "$CLIENTS" "$PASSWORD" >"$WORK/warmup.txt" 2>&1 || { cat "$WORK/warmup.txt" >&2; exit 2; }
sleep 2

# CPU time (utime+stime, clock ticks) per server thread name, summed over threads of that name.
thread_cpu() {
  local task comm stat rest
  for task in /proc/"$SERVER_PID"/task/*; do
    comm=$(cat "$task/comm" 2>/dev/null) || continue
    stat=$(cat "$task/stat" 2>/dev/null) || continue
    rest=${stat##*) }               # fields from 3 (state) on
    read -r -a f <<<"$rest"
    printf '%s\t%s\n' "${comm// /_}" $((f[11] + f[12]))   # fields 14 and 15
  done | awk -F'\t' '{t[$1]+=$2; n[$1]++} END {for (k in t) printf "%s\t%d\t%d\n", k, n[k], t[k]}' | sort
}

log "idle: ${WRK[*]}"
"${WRK[@]}" | tee "$WORK/wrk-idle.txt"

log "flood: ${FLOOD_CMD[*]:0:6} '<password>' (background), ramp ${RAMP_SECONDS} s"
"${FLOOD_CMD[@]}" >"$WORK/flood.txt" 2>&1 &
FLOOD_PID=$!
sleep "$RAMP_SECONDS"
thread_cpu >"$WORK/cpu-before.txt"
CPU_T0=$(date +%s.%N)
( sleep $((WRK_SECONDS / 2)); top -H -b -n 2 -d 3 -w 200 -p "$SERVER_PID" >"$WORK/top-server.txt" 2>&1; top -b -n 2 -d 2 -w 200 >"$WORK/top-all.txt" 2>&1 ) &
TOP_PID=$!
log "during flood: ${WRK[*]}"
"${WRK[@]}" | tee "$WORK/wrk-flood.txt"
thread_cpu >"$WORK/cpu-after.txt"
CPU_T1=$(date +%s.%N)
wait "$TOP_PID" || true
log "waiting for the flood to finish"
FLOOD_RC=0
wait "$FLOOD_PID" || FLOOD_RC=$?
FLOOD_PID=""
cat "$WORK/flood.txt"

# ---- numbers -------------------------------------------------------------------------
# wrk prints "     99%    1.23ms" (units us, ms, s); convert to milliseconds.
pct_ms() { # file percent
  awk -v p="$2%" '$1 == p {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
    printf "%.3f", v; found = 1 } END { if (!found) exit 1 }' "$1"
}
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ {print $NF; f=1} END {if (!f) print 0}' "$1"; }
sockerr() { awk '/Socket errors:/ {sub(/^ *Socket errors: */, ""); print; f=1} END {if (!f) print "none"}' "$1"; }

I50=$(pct_ms "$WORK/wrk-idle.txt" 50); I90=$(pct_ms "$WORK/wrk-idle.txt" 90); I99=$(pct_ms "$WORK/wrk-idle.txt" 99)
F50=$(pct_ms "$WORK/wrk-flood.txt" 50); F90=$(pct_ms "$WORK/wrk-flood.txt" 90); F99=$(pct_ms "$WORK/wrk-flood.txt" 99)
RATIO=$(awk -v a="$F99" -v b="$I99" 'BEGIN {printf "%.2f", a / b}')
R50=$(awk -v a="$F50" -v b="$I50" 'BEGIN {printf "%.2f", a / b}')
R90=$(awk -v a="$F90" -v b="$I90" 'BEGIN {printf "%.2f", a / b}')
MET=$(awk -v r="$RATIO" -v t="$TARGET_RATIO" 'BEGIN {print (r <= t) ? "MET" : "NOT MET"}')
LOGINS=$(awk '/logins attempted/ {print $NF}' "$WORK/flood.txt")
LOGINS_S=$(awk '/logins\/s/ {print $NF}' "$WORK/flood.txt")
LOGIN_LAT=$(sed -n 's/^login_flood: login latency (GET+POST) //p' "$WORK/flood.txt")
STATUSES=$(sed -n 's/^login_flood: POST \/login status \(.*\): \(.*\)$/\1 × \2/p' "$WORK/flood.txt" | paste -sd, - | sed 's/,/, /g')
PROBLEMS=$(sed -n 's/^login_flood: problem: //p' "$WORK/flood.txt" | paste -sd';' -)

log "server CPU per thread name during the flood wrk window ($(awk -v a="$CPU_T0" -v b="$CPU_T1" 'BEGIN {printf "%.1f", b - a}') s wall)"
TICKS=$(getconf CLK_TCK)
CPU_TABLE=$(join -t $'\t' -a 2 -e 0 -o 2.1,2.2,1.3,2.3 "$WORK/cpu-before.txt" "$WORK/cpu-after.txt" |
  awk -F'\t' -v hz="$TICKS" -v wall="$(awk -v a="$CPU_T0" -v b="$CPU_T1" 'BEGIN {print b - a}')" '
    { s = ($4 - $3) / hz; printf "| `%s` | %d | %.1f | %.0f%% |\n", $1, $2, s, 100 * s / wall }' | sort -t'|' -k4 -rn)
echo "| thread name | threads | CPU s | % of one core |"
echo "|---|---|---|---|"
echo "$CPU_TABLE"
echo
# the second of top's two samples is the one measured over an interval
last_top() { awk '/^top - /{n++} n==2' "$1" | sed -n "7,$2p"; }
echo "top -H (server threads, 3 s sample mid-flood):"
# (the row whose PID is the process id shows whole-process totals in some top versions)
last_top "$WORK/top-server.txt" 19 | awk -v pid="$SERVER_PID" '$1 != pid'
echo "(server pid $SERVER_PID)"
echo
echo "top (all processes, 2 s sample mid-flood):"
last_top "$WORK/top-all.txt" 12

cat <<EOF

==================== paste into BENCHMARKS.md ====================
Run: $(date -u +%Y-%m-%dT%H:%MZ), \`scripts/bench-login.sh\` (nproc $(nproc), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(rustc --version))
wrk: \`${WRK[*]}\`${WRK_DELAY_MS:+ (pace.lua: delay() returns $WRK_DELAY_MS ms)}
flood: \`${FLOOD_CMD[*]:0:6} '<password>'\` (wrk starts ${RAMP_SECONDS} s into the flood)

| $WRK_PATH | p50 ms | p90 ms | p99 ms | req/s | non-2xx | socket errors |
|---|---|---|---|---|---|---|
| idle | $I50 | $I90 | $I99 | $(rps "$WORK/wrk-idle.txt") | $(non2xx "$WORK/wrk-idle.txt") | $(sockerr "$WORK/wrk-idle.txt") |
| during flood | $F50 | $F90 | $F99 | $(rps "$WORK/wrk-flood.txt") | $(non2xx "$WORK/wrk-flood.txt") | $(sockerr "$WORK/wrk-flood.txt") |
| ratio flood/idle | $R50 | $R90 | **$RATIO** | | | |

p99 ratio $RATIO (target <= $TARGET_RATIO): $MET
Logins: $LOGINS attempted, $LOGINS_S logins/s; status codes: $STATUSES${PROBLEMS:+; problems: $PROBLEMS}; login latency $LOGIN_LAT
==================================================================
EOF

if ((FLOOD_RC != 0)) || [[ $(non2xx "$WORK/wrk-idle.txt") != 0 || $(non2xx "$WORK/wrk-flood.txt") != 0 ]]; then
  echo "INVALID RUN: login_flood exit $FLOOD_RC, or /healthz answered non-2xx" >&2
  exit 2
fi
[[ $MET == MET ]] || exit 1
