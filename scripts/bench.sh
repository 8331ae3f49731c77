#!/usr/bin/env bash
# Every performance figure of BENCHMARKS.md, in one run against one release build:
#
#   W1  GET /token with a PAT and a push scope      vs  GET /healthz on the same server
#       (three alternating pairs; the median ratio)
#   W2  the same with the password (no 2FA)          vs  W1
#   W3  W1 while 50 clients sign in with correct passwords (login_flood)  vs  W1 alone (p99)
#   W4  W1 on 1,000,000 tokens                       vs  W1 on 1,000 tokens
#       the overview of a user with 10,000 tokens    vs  one with 10
#   W5  W1 with 1,000 tokens in rotation: no locked database, last-use writes counted
#   W6  peak RSS under W1, and idle RSS
#   W7  /token (W1)                                  vs  the registry's authenticated manifest
#   O1  /token of a member in an organization of 50 teams and 10,000 repositories (a pull
#       its team grants)                             vs  the same member in their own
#       namespace, on the same server (three alternating pairs; the median ratio)
#   O2  the organization's overview page, 1,000 members and 10,000 repositories
#                                                    vs  an organization of 5 and 10
#   PostgreSQL, in the same run (SKIP_POSTGRES=1 leaves it out), on a throwaway server
#   (scripts/postgres.sh, durability off):
#   P1  W1 on PostgreSQL                             vs  W1 on SQLite (3 alternating pairs)
#       pgbench -S on the same server, and statements per /token (pg_stat_statements)
#   P4  W1 on PostgreSQL with 1,000,000 tokens       vs  1,000 tokens
#       the overview of 10,000 tokens on PostgreSQL  vs  10
#   P5  W1 through nginx to two instances            vs  through nginx to one
#       GETs (Debian's docker-registry with Berth's JWT; and with htpasswd/bcrypt)
#   plus the dataset generator (100,000 users, 1,000,000 tokens) and criterion's
#   `tokens` bench (authenticate on 1k vs 1M tokens), and last the registry events' rows
#   R1-R3 (scripts/bench-events.sh on the same build; SKIP_EVENTS=1 leaves them out).
#
# Usage (from anywhere, as root: it installs wrk, docker-registry and apache2-utils from
# Debian when they are missing):
#   scripts/bench.sh                              every workload above, this tree's build
#   scripts/bench.sh --baseline REV [W1 W2 W3 W4] a baseline in the same run: builds REV
#       (any git revision) in a git worktree under target/ (removed afterwards), runs the
#       named workloads (default W1) for REV's binary and this tree's in alternating pairs
#       (PAIRS=3; the order flips every pair), each binary on its own server and dataset,
#       and reports both ratios (the median pair of each) and their change. W1 is
#       /token vs /healthz, W2 password vs W1, W3 W1's p99 during a login flood vs alone,
#       W4 W1 on the large dataset vs the small one. Table: $OUT/baseline.md.
# Knobs: SECONDS_PER_RUN=15 W5_RUN_SECONDS=65 CONNECTIONS=64 THREADS=2 LARGE_USERS=100000 LARGE_TOKENS_PER_USER=10
#        WARM_SECONDS=3 PAIRS=3 (--baseline only)
#        SKIP_BUILD=1 SKIP_CRITERION=1 PROFILE=1 (perf record of W1 into $OUT/w1.perf.txt)
#        BUILD_PROFILE=release (dev: an unoptimised build, only to try the script out quickly)
#        OUT=target/bench (where the table, the logs and the profile land)
#   e.g. a quick try of the baseline mode (figures meaningless):
#        BUILD_PROFILE=dev SECONDS_PER_RUN=2 WARM_SECONDS=1 PAIRS=2 scripts/bench.sh --baseline HEAD W1
# Exit status: 0 when the run was valid (every answer as expected); the table says which
# targets were met. 2 when a run was invalid (an unexpected status, a tool failed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
BASELINE=""
WANTED=()
while (($#)); do
  case $1 in
    --baseline) BASELINE=${2:-}; [[ -n $BASELINE ]] || { usage >&2; exit 2; }; shift 2 ;;
    --baseline=*) BASELINE=${1#--baseline=}; shift ;;
    W1 | W2 | W3 | W4) WANTED+=("$1"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'bench.sh: unknown argument %s (with --baseline: W1 W2 W3 W4)\n\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
done
if ((${#WANTED[@]})) && [[ -z $BASELINE ]]; then
  printf 'bench.sh: workload names go with --baseline REV\n' >&2
  exit 2
fi
((${#WANTED[@]})) || WANTED=(W1)

SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
# W5 runs past a minute, so that the once-a-minute rule for last use is exercised
W5_RUN_SECONDS=${W5_RUN_SECONDS:-65}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WARM_SECONDS=${WARM_SECONDS:-3}
PAIRS=${PAIRS:-3}
BUILD_PROFILE=${BUILD_PROFILE:-release}
case $BUILD_PROFILE in
  release) BUILD_FLAGS=(--release) BUILD_DIR=release ;;
  dev) BUILD_FLAGS=() BUILD_DIR=debug ;;
  *) printf 'bench.sh: BUILD_PROFILE is release or dev\n' >&2; exit 2 ;;
esac
LARGE_USERS=${LARGE_USERS:-100000}
LARGE_TOKENS_PER_USER=${LARGE_TOKENS_PER_USER:-10}
OUT=${OUT:-target/bench}
PASSWORD='bench password 1234'
SERVICE=registry.local

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 2; }

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if [[ -z $BASELINE ]]; then
  command -v docker-registry >/dev/null || need+=(docker-registry)
  command -v htpasswd >/dev/null || need+=(apache2-utils)
  command -v jq >/dev/null || need+=(jq)
fi
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi

if [[ -z ${SKIP_BUILD:-} ]]; then
  log "cargo build ${BUILD_FLAGS[*]} --bins --examples"
  cargo build "${BUILD_FLAGS[@]}" --locked --bins --examples
fi
BERTH=$PWD/target/$BUILD_DIR/berth
FLOOD=$PWD/target/$BUILD_DIR/examples/login_flood
[[ -x $BERTH && -x $FLOOD ]] || die "missing $BERTH or $FLOOD"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d -t berth-bench.XXXXXX)
PIDS=()
BASE_TREE=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
  if [[ -n $BASE_TREE ]]; then git worktree remove --force "$BASE_TREE" 2>/dev/null || rm -rf "$BASE_TREE"; git worktree prune; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; die "$1 does not answer"; }
rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
basic() { printf '%s' "$1:$2" | base64 -w0; }

# ---- wrk, parsed -------------------------------------------------------------------
# wrk_run NAME URL [wrk args...]: runs wrk --latency, stores RPS[NAME], P50[NAME], P99[NAME]
# (milliseconds) and fails the whole run on any non-2xx answer or socket error.
declare -A RPS P50 P99
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}' <<<"$1"; }
wrk_run() {
  local name=$1 url=$2
  shift 2
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$@" "$url")
  printf '%s\n' "$out" >"$OUT/wrk-$name.txt"
  if grep -q 'Non-2xx' <<<"$out"; then die "$name: non-2xx answers ($(grep Non-2xx <<<"$out")); see $OUT/wrk-$name.txt"; fi
  if grep -qE 'Socket errors:.*(read|write) [1-9]' <<<"$out"; then log "$name: $(grep 'Socket errors' <<<"$out")"; fi
  RPS[$name]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  P50[$name]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  log "$name: ${RPS[$name]} req/s, p50 ${P50[$name]} ms, p99 ${P99[$name]} ms"
}
warm() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARM_SECONDS}s" "$@" >/dev/null; }

# ---- Berth -------------------------------------------------------------------------
BERTH_PID=""
start_berth() { # DATA LOGFILE [BINARY]; DB_URL=postgres://… for PostgreSQL
  BERTH_PORT=$(free_port)
  BERTH_URL=http://127.0.0.1:$BERTH_PORT
  env ${DB_URL:+BERTH_DATABASE_URL=$DB_URL} BERTH_DATA=$1 BERTH_BIND=127.0.0.1:$BERTH_PORT BERTH_REGISTRY_SERVICE=$SERVICE RUST_LOG=info,berth::tokens=debug \
    "${3:-$BERTH}" >"$2" 2>&1 &
  BERTH_PID=$!
  PIDS+=("$BERTH_PID")
  wait_http "$BERTH_URL/healthz"
}
stop_berth() { kill "$BERTH_PID"; wait "$BERTH_PID" 2>/dev/null || true; }

# ---- --baseline REV: two binaries, the same workloads, alternating pairs ------------
if [[ -n $BASELINE ]]; then
  BASE_REV=$(git rev-parse --verify --quiet "$BASELINE^{commit}") || die "--baseline $BASELINE: not a git revision"
  BASE_LABEL="$BASELINE ($(git rev-parse --short "$BASE_REV"))"
  HEAD_LABEL="this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock migrations templates static 2>/dev/null || echo ', with changes'))"
  # this tree's binary first: building REV in the shared target folder (the dependencies
  # are built once for both) replaces target/$BUILD_DIR/berth, which is put back after
  cp -p "$BERTH" "$WORK/berth-head"
  BASE_TREE=$PWD/target/bench-baseline-$$
  log "building $BASE_LABEL in $BASE_TREE"
  git worktree add --detach --quiet "$BASE_TREE" "$BASE_REV"
  (cd "$BASE_TREE" && CARGO_TARGET_DIR="$OLDPWD/target" cargo build "${BUILD_FLAGS[@]}" --locked --bin berth) || die "building $BASE_LABEL failed"
  cp -p "$BERTH" "$WORK/berth-base"
  cp -p "$WORK/berth-head" "$BERTH"
  declare -A BIN=([base]=$WORK/berth-base [head]=$WORK/berth-head) LABEL=([base]=$BASE_LABEL [head]=$HEAD_LABEL)
  declare -A SMALL_URL LARGE_URL PAT_USER PAT LARGE_PAT_USER LARGE_PAT RATIO
  wants() { [[ " ${WANTED[*]} " == *" $1 "* ]]; }
  for who in base head; do
    log "$who: seeding 1,000 users with 1 token each, and starting its server"
    BERTH_DATA=$WORK/$who-small "${BIN[$who]}" dev seed --prefix bench --users 1000 --tokens-per-user 1 --plan team --password "$PASSWORD" --tokens-out "$WORK/$who-small.tokens" >"$OUT/baseline-seed-$who-small.txt"
    read -r PAT_USER[$who] PAT[$who] < <(head -1 "$WORK/$who-small.tokens")
    start_berth "$WORK/$who-small" "$OUT/baseline-berth-$who-small.log" "${BIN[$who]}"
    SMALL_URL[$who]=$BERTH_URL
    curl -fs -o /dev/null -u "${PAT_USER[$who]}:${PAT[$who]}" "$BERTH_URL/token?service=$SERVICE&scope=repository:${PAT_USER[$who]}/app:pull,push" || die "$who: the PAT is refused"
    if wants W4; then
      log "$who: seeding $LARGE_USERS users with $LARGE_TOKENS_PER_USER tokens each (W4)"
      BERTH_DATA=$WORK/$who-large "${BIN[$who]}" dev seed --prefix big --users "$LARGE_USERS" --tokens-per-user "$LARGE_TOKENS_PER_USER" --plan team --password "$PASSWORD" --tokens-out "$WORK/$who-large.tokens" >"$OUT/baseline-seed-$who-large.txt"
      read -r LARGE_PAT_USER[$who] LARGE_PAT[$who] < <(sed -n "$(($(wc -l <"$WORK/$who-large.tokens") / 2))p" "$WORK/$who-large.tokens")
      start_berth "$WORK/$who-large" "$OUT/baseline-berth-$who-large.log" "${BIN[$who]}"
      LARGE_URL[$who]=$BERTH_URL
    fi
  done
  token_path() { echo "/token?service=$SERVICE&scope=repository:$1/app:pull,push"; }
  # measure WORKLOAD WHO PAIR: RATIO[WORKLOAD-WHO-PAIR], from runs made right here
  measure() {
    local w=$1 who=$2 pair=$3 url=${SMALL_URL[$2]} k=$2-$3
    local pat_auth="Authorization: Basic $(basic "${PAT_USER[$2]}" "${PAT[$2]}")" path
    path=$(token_path "${PAT_USER[$2]}")
    case $w in
      W1)
        wrk_run "cmp-healthz-$k" "$url/healthz"
        wrk_run "cmp-W1-$k" "$url$path" -H "$pat_auth"
        RATIO[W1-$k]=$(python3 -c "print('%.2f' % (${RPS[cmp-W1-$k]} / ${RPS[cmp-healthz-$k]}))")
        ;;
      W2)
        wrk_run "cmp-W1b-$k" "$url$path" -H "$pat_auth"
        wrk_run "cmp-W2-$k" "$url$path" -H "Authorization: Basic $(basic "${PAT_USER[$2]}" "$PASSWORD")"
        RATIO[W2-$k]=$(python3 -c "print('%.2f' % (${RPS[cmp-W2-$k]} / ${RPS[cmp-W1b-$k]}))")
        ;;
      W3)
        wrk_run "cmp-W1c-$k" "$url$path" -H "$pat_auth"
        "$FLOOD" "$url" 50 "$((SECONDS_PER_RUN + 8))" bench 50 "$PASSWORD" >"$OUT/baseline-login-flood-$k.txt" 2>&1 &
        local flood=$!
        PIDS+=("$flood")
        sleep 4
        wrk_run "cmp-W3-$k" "$url$path" -H "$pat_auth"
        wait "$flood" || die "login_flood failed: $(tail -3 "$OUT/baseline-login-flood-$k.txt")"
        RATIO[W3-$k]=$(python3 -c "print('%.2f' % (${P99[cmp-W3-$k]} / ${P99[cmp-W1c-$k]}))")
        ;;
      W4)
        wrk_run "cmp-W4large-$k" "${LARGE_URL[$2]}$(token_path "${LARGE_PAT_USER[$2]}")" -H "Authorization: Basic $(basic "${LARGE_PAT_USER[$2]}" "${LARGE_PAT[$2]}")"
        wrk_run "cmp-W4small-$k" "$url$path" -H "$pat_auth"
        RATIO[W4-$k]=$(python3 -c "print('%.2f' % (${RPS[cmp-W4large-$k]} / ${RPS[cmp-W4small-$k]}))")
        ;;
    esac
  }
  for who in base head; do
    warm "${SMALL_URL[$who]}/healthz"
    warm -H "Authorization: Basic $(basic "${PAT_USER[$who]}" "${PAT[$who]}")" "${SMALL_URL[$who]}$(token_path "${PAT_USER[$who]}")"
    if wants W4; then warm -H "Authorization: Basic $(basic "${LARGE_PAT_USER[$who]}" "${LARGE_PAT[$who]}")" "${LARGE_URL[$who]}$(token_path "${LARGE_PAT_USER[$who]}")"; fi
  done
  for pair in $(seq "$PAIRS"); do
    # the order flips every pair, so neither binary always runs first (or warmer)
    if ((pair % 2)); then order=(base head); else order=(head base); fi
    for w in "${WANTED[@]}"; do
      for who in "${order[@]}"; do
        log "pair $pair, $w, $who"
        measure "$w" "$who" "$pair"
      done
      log "pair $pair, $w: ${LABEL[base]} ${RATIO[$w-base-$pair]}, ${LABEL[head]} ${RATIO[$w-head-$pair]}"
    done
  done
  median() { # WORKLOAD WHO -> the median of its pairs' ratios
    for p in $(seq "$PAIRS"); do echo "${RATIO[$1-$2-$p]}"; done | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : sprintf("%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
  }
  pairs_of() { for p in $(seq "$PAIRS"); do printf '%s ' "${RATIO[$1-$2-$p]}"; done | sed 's/ $//'; }
  declare -A WHAT=([W1]="W1 /token (PAT, push scope) / /healthz" [W2]="W2 /token password / PAT" [W3]="W3 W1 p99 during 50 sign-ins / alone" [W4]="W4 W1 on $((LARGE_USERS * LARGE_TOKENS_PER_USER)) tokens / on 1,000")
  declare -A TARGET=([W1]=">= 0.50" [W2]=">= 0.50" [W3]="<= 2" [W4]=">= 0.80")
  {
    echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r); wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s; $PAIRS alternating pair(s); $BUILD_PROFILE build"
    echo
    echo "| Workload | ${LABEL[base]}: median (pairs) | ${LABEL[head]}: median (pairs) | change | Target |"
    echo "|---|---|---|---:|---|"
    for w in "${WANTED[@]}"; do
      b=$(median "$w" base) h=$(median "$w" head)
      echo "| ${WHAT[$w]} | $b ($(pairs_of "$w" base)) | $h ($(pairs_of "$w" head)) | $(python3 -c "print('%+.0f %%' % (($h / $b - 1) * 100))") | ${TARGET[$w]} |"
    done
  } | tee "$OUT/baseline.md"
  exit 0
fi

# ---- datasets ----------------------------------------------------------------------
log "seeding the small dataset: 1,000 users, 1 token each"
SMALL=$WORK/small
BERTH_DATA=$SMALL "$BERTH" dev seed --prefix bench --users 1000 --tokens-per-user 1 --plan team --password "$PASSWORD" --tokens-out "$WORK/small.tokens" >"$OUT/seed-small.txt"
read -r W1_USER W1_TOKEN < <(head -1 "$WORK/small.tokens")
SCOPE="repository:$W1_USER/app:pull,push"
TOKEN_URL_PATH="/token?service=$SERVICE&scope=$SCOPE"

log "seeding the large dataset: $LARGE_USERS users, $LARGE_TOKENS_PER_USER tokens each"
LARGE=$WORK/large
BERTH_DATA=$LARGE "$BERTH" dev seed --prefix big --users "$LARGE_USERS" --tokens-per-user "$LARGE_TOKENS_PER_USER" --plan team --password "$PASSWORD" --tokens-out "$WORK/large.tokens" | tee "$OUT/seed-large.txt"
SEED_SECONDS=$(sed -n 's/.* in \([0-9.]*\) s$/\1/p' "$OUT/seed-large.txt")
LARGE_TOKENS=$(wc -l <"$WORK/large.tokens")
# a token from the middle of the large set
read -r W4_USER W4_TOKEN < <(sed -n "$((LARGE_TOKENS / 2))p" "$WORK/large.tokens")

# ---- the small dataset: W1, W2, W3, W5, W6 -----------------------------------------
start_berth "$SMALL" "$OUT/berth-small.log"
sleep 2
IDLE_RSS=$(rss_kb "$BERTH_PID" VmRSS)

curl -fs -o /dev/null -u "$W1_USER:$W1_TOKEN" "$BERTH_URL$TOKEN_URL_PATH" || die "W1: the PAT is refused"
curl -fs -o /dev/null -u "$W1_USER:$PASSWORD" "$BERTH_URL$TOKEN_URL_PATH" || die "W2: the password is refused"

log "/healthz and W1 (PAT), side by side: three alternating pairs, the median ratio counts"
# The machine is shared: one pair can land on a quiet or a busy moment. Three pairs taken
# back to back, each ratio from its own pair, and the median of the three is the figure.
warm "$BERTH_URL/healthz"
warm -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")" "$BERTH_URL$TOKEN_URL_PATH"
W1_RATIOS=()
for pair in 1 2 3; do
  wrk_run "healthz-$pair" "$BERTH_URL/healthz"
  wrk_run "W1-$pair" "$BERTH_URL$TOKEN_URL_PATH" -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")"
  W1_RATIOS+=("$(python3 -c "print('%.2f' % (${RPS[W1-$pair]} / ${RPS[healthz-$pair]}))")")
done
# the pair with the median ratio stands for W1 and /healthz in the table
MEDIAN_PAIR=$(for i in 1 2 3; do echo "${W1_RATIOS[$((i - 1))]} $i"; done | sort -n | sed -n 2p | cut -d' ' -f2)
RPS[W1]=${RPS[W1-$MEDIAN_PAIR]} P50[W1]=${P50[W1-$MEDIAN_PAIR]} P99[W1]=${P99[W1-$MEDIAN_PAIR]}
RPS[healthz]=${RPS[healthz-$MEDIAN_PAIR]} P50[healthz]=${P50[healthz-$MEDIAN_PAIR]} P99[healthz]=${P99[healthz-$MEDIAN_PAIR]}
log "W1 / healthz per pair: ${W1_RATIOS[*]} (median: pair $MEDIAN_PAIR)"
PEAK_RSS=$(rss_kb "$BERTH_PID" VmHWM)
if [[ -n ${PROFILE:-} ]]; then
  # a separate run: sampling slows the server, so the measured W1 above is never profiled
  command -v perf >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends linux-perf; }
  perf record -e cpu-clock -F 999 -g -p "$BERTH_PID" -o "$WORK/w1.perf" -- sleep "$SECONDS_PER_RUN" 2>/dev/null &
  PERF_PID=$!
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")" "$BERTH_URL$TOKEN_URL_PATH" >/dev/null
  wait "$PERF_PID" || true
  perf report -i "$WORK/w1.perf" --stdio --children -g none --percent-limit 1 --sort symbol 2>/dev/null | cut -c1-160 >"$OUT/w1.perf.txt" || true
  log "W1 profile (inclusive shares; build with frame pointers for call chains): $OUT/w1.perf.txt"
fi

log "W2 (password)"
warm -H "Authorization: Basic $(basic "$W1_USER" "$PASSWORD")" "$BERTH_URL$TOKEN_URL_PATH"
wrk_run W2 "$BERTH_URL$TOKEN_URL_PATH" -H "Authorization: Basic $(basic "$W1_USER" "$PASSWORD")"

log "W5: 1,000 tokens in rotation"
head -1000 "$WORK/small.tokens" | while read -r u t; do printf '%s %s\n' "$u" "$(basic "$u" "$t")"; done >"$WORK/rotation.txt"
cat >"$WORK/rotation.lua" <<LUA
local users, auths, n = {}, {}, 0
for line in io.lines("$WORK/rotation.txt") do
  local u, a = line:match("^(%S+) (%S+)$")
  n = n + 1; users[n] = u; auths[n] = a
end
local i = 0
function setup(thread) thread:set("offset", math.random(n)) end
function request()
  i = i + 1
  local k = (i + (offset or 0)) % n + 1
  return wrk.format("GET", "/token?service=$SERVICE&scope=repository:" .. users[k] .. "/app:pull,push", { Authorization = "Basic " .. auths[k] })
end
LUA
writes_before=$(grep -c 'last use recorded' "$OUT/berth-small.log" || true)
W5_STARTED=$(date +%s)
SECONDS_PER_RUN=$W5_RUN_SECONDS wrk_run W5 "$BERTH_URL/" -s "$WORK/rotation.lua"
W5_SECONDS=$(($(date +%s) - W5_STARTED))
writes_after=$(grep -c 'last use recorded' "$OUT/berth-small.log" || true)
W5_WRITES=$((writes_after - writes_before))
# each token: one write at its first use from this client, then at most one a minute
W5_ALLOWED=$((1000 * (1 + W5_SECONDS / 60)))
W5_LOCKED=$(grep -c 'database is locked' "$OUT/berth-small.log" || true)

log "W3: W1 while 50 clients sign in with correct passwords"
FLOOD_SECONDS=$((SECONDS_PER_RUN + 8))
"$FLOOD" "$BERTH_URL" 50 "$FLOOD_SECONDS" bench 50 "$PASSWORD" >"$OUT/login-flood.txt" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
sleep 4
wrk_run W3 "$BERTH_URL$TOKEN_URL_PATH" -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")"
wait "$FLOOD_PID" || die "login_flood failed: $(tail -3 "$OUT/login-flood.txt")"
FLOOD_LOGINS=$(sed -n 's/^login_flood: logins\/s \([0-9.]*\).*/\1 logins\/s/p' "$OUT/login-flood.txt" | head -1)
stop_berth

# ---- W7: the registry behind Berth, and behind htpasswd ----------------------------
log "W7: docker-registry with Berth's JWT, and with htpasswd"
start_berth "$SMALL" "$OUT/berth-w7.log"
REG_PORT=$(free_port)
BERTH_DATA=$SMALL "$BERTH" --public-url "$BERTH_URL" --registry-service "$SERVICE" registry-config >"$WORK/auth.yml"
mkdir -p "$WORK/registry"
{
  echo "version: 0.1"
  echo "log: {level: error, accesslog: {disabled: true}}"
  echo "storage: {filesystem: {rootdirectory: $WORK/registry}}"
  echo "http: {addr: 127.0.0.1:$REG_PORT}"
  sed -n '/^auth:/,$p' "$WORK/auth.yml"
} >"$WORK/registry.yml"
docker-registry serve "$WORK/registry.yml" >"$OUT/registry.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$REG_PORT/v2/"
REG=http://127.0.0.1:$REG_PORT
JWT=$(curl -fs -u "$W1_USER:$W1_TOKEN" "$BERTH_URL$TOKEN_URL_PATH" | jq -r .token)
# push a tiny image by hand: a config blob, a layer blob, a manifest
push_blob() { # FILE -> digest
  local digest location
  digest=sha256:$(sha256sum "$1" | cut -d' ' -f1)
  location=$(curl -fs -D - -o /dev/null -X POST -H "Authorization: Bearer $JWT" "$2/v2/$W1_USER/app/blobs/uploads/" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  [[ $location == http* ]] || location=$2$location
  curl -fs -o /dev/null -X PUT -H "Authorization: Bearer $JWT" -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location&digest=$digest"
  echo "$digest"
}
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config.json"
echo "hello from bench" >"$WORK/hello.txt"
tar -C "$WORK" -czf "$WORK/layer.tgz" hello.txt
make_manifest() { # REGISTRY_URL
  local cfg layer
  cfg=$(push_blob "$WORK/config.json" "$1")
  layer=$(push_blob "$WORK/layer.tgz" "$1")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
    "$cfg" "$(stat -c %s "$WORK/config.json")" "$layer" "$(stat -c %s "$WORK/layer.tgz")" >"$WORK/manifest.json"
}
MANIFEST_TYPE=application/vnd.oci.image.manifest.v1+json
make_manifest "$REG"
curl -fs -o /dev/null -X PUT -H "Authorization: Bearer $JWT" -H "Content-Type: $MANIFEST_TYPE" --data-binary "@$WORK/manifest.json" "$REG/v2/$W1_USER/app/manifests/1" || die "W7: pushing the manifest failed"
curl -fs -o /dev/null -H "Authorization: Bearer $JWT" -H "Accept: $MANIFEST_TYPE" "$REG/v2/$W1_USER/app/manifests/1" || die "W7: the manifest GET is refused"
warm -H "Authorization: Bearer $JWT" -H "Accept: $MANIFEST_TYPE" "$REG/v2/$W1_USER/app/manifests/1"
wrk_run W7jwt "$REG/v2/$W1_USER/app/manifests/1" -H "Authorization: Bearer $JWT" -H "Accept: $MANIFEST_TYPE"
warm -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")" "$BERTH_URL$TOKEN_URL_PATH"
wrk_run W7token "$BERTH_URL$TOKEN_URL_PATH" -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")"
stop_berth

# the same registry with htpasswd (bcrypt), the set-up most people use without a token server
HT_PORT=$(free_port)
htpasswd -Bbc "$WORK/htpasswd" "$W1_USER" "$PASSWORD" 2>/dev/null
{
  echo "version: 0.1"
  echo "log: {level: error, accesslog: {disabled: true}}"
  echo "storage: {filesystem: {rootdirectory: $WORK/registry}}"
  echo "http: {addr: 127.0.0.1:$HT_PORT}"
  echo "auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}"
} >"$WORK/registry-ht.yml"
docker-registry serve "$WORK/registry-ht.yml" >"$OUT/registry-ht.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$HT_PORT/v2/"
curl -fs -o /dev/null -u "$W1_USER:$PASSWORD" -H "Accept: $MANIFEST_TYPE" "http://127.0.0.1:$HT_PORT/v2/$W1_USER/app/manifests/1" || die "W7: htpasswd GET refused"
warm -H "Authorization: Basic $(basic "$W1_USER" "$PASSWORD")" -H "Accept: $MANIFEST_TYPE" "http://127.0.0.1:$HT_PORT/v2/$W1_USER/app/manifests/1"
wrk_run W7htpasswd "http://127.0.0.1:$HT_PORT/v2/$W1_USER/app/manifests/1" -H "Authorization: Basic $(basic "$W1_USER" "$PASSWORD")" -H "Accept: $MANIFEST_TYPE"

# ---- W4: the large dataset ---------------------------------------------------------
log "W4: W1 on $LARGE_TOKENS tokens vs 1,000"
start_berth "$LARGE" "$OUT/berth-large.log"
W4_SCOPE="/token?service=$SERVICE&scope=repository:$W4_USER/app:pull,push"
curl -fs -o /dev/null -u "$W4_USER:$W4_TOKEN" "$BERTH_URL$W4_SCOPE" || die "W4: the PAT is refused"
warm -H "Authorization: Basic $(basic "$W4_USER" "$W4_TOKEN")" "$BERTH_URL$W4_SCOPE"
wrk_run W4large "$BERTH_URL$W4_SCOPE" -H "Authorization: Basic $(basic "$W4_USER" "$W4_TOKEN")"
stop_berth
# and the small one again right after, so the two sit side by side in time
start_berth "$SMALL" "$OUT/berth-small-again.log"
warm -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")" "$BERTH_URL$TOKEN_URL_PATH"
wrk_run W4small "$BERTH_URL$TOKEN_URL_PATH" -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")"
stop_berth

log "W4: the overview of 10,000 tokens vs 10"
OVERVIEW=$WORK/overview
BERTH_DATA=$OVERVIEW "$BERTH" dev seed --prefix few --users 1 --tokens-per-user 10 --password "$PASSWORD" >/dev/null
BERTH_DATA=$OVERVIEW "$BERTH" dev seed --prefix many --users 1 --tokens-per-user 10000 --password "$PASSWORD" >/dev/null
start_berth "$OVERVIEW" "$OUT/berth-overview.log"
login_cookie() {
  local jar=$WORK/$1.jar csrf
  csrf=$(curl -fs -c "$jar" "$BERTH_URL/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
  curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$csrf" --data-urlencode "login=$1" --data-urlencode "password=$PASSWORD" "$BERTH_URL/login"
  awk '$6 == "berth_session" {print "berth_session=" $7}' "$jar"
}
# overview_runs PREFIX: the overview of few0 (10 tokens) and many0 (10,000) on $BERTH_URL,
# stored as PREFIX-few0 and PREFIX-many0
overview_runs() {
  local who cookie page
  for who in few0 many0; do
    cookie=$(login_cookie "$who")
    page=$(curl -fs -H "Cookie: $cookie" "$BERTH_URL/settings/tokens") || die "$1 of $who"
    grep -q 'id="tokens"' <<<"$page" || die "$1 of $who: no token table"
    warm -H "Cookie: $cookie" "$BERTH_URL/settings/tokens"
    wrk_run "$1-$who" "$BERTH_URL/settings/tokens" -H "Cookie: $cookie"
  done
}
overview_runs overview
stop_berth

# ---- O1, O2: organizations ----------------------------------------------------------
log "O1/O2: seeding 1,000 users and two organizations (50 teams, 10,000 repositories; and a small one)"
ORG=$WORK/org
BERTH_DATA=$ORG "$BERTH" dev seed --prefix orgm --users 1000 --tokens-per-user 1 --plan team --password "$PASSWORD" --tokens-out "$WORK/org.tokens" >/dev/null
BERTH_DATA=$ORG "$BERTH" dev seed-org --name bigorg --owner orgm0 --member-prefix orgm --members 1000 --teams 50 --repositories 10000 | tee "$OUT/seed-org.txt" >&2
BERTH_DATA=$ORG "$BERTH" dev seed-org --name tinyorg --owner orgm0 --member-prefix orgm --members 5 --teams 2 --repositories 10 >/dev/null
read -r O1_USER O1_TOKEN < <(sed -n 2p "$WORK/org.tokens")
O1_ORG_PATH="/token?service=$SERVICE&scope=repository:bigorg/repo-5017:pull"
O1_OWN_PATH="/token?service=$SERVICE&scope=repository:$O1_USER/app:pull"
start_berth "$ORG" "$OUT/berth-org.log"
O1_AUTH="Authorization: Basic $(basic "$O1_USER" "$O1_TOKEN")"
# the member's team grants the pull: the answer must carry it, or the run measures a refusal
curl -fs -H "$O1_AUTH" "$BERTH_URL$O1_ORG_PATH" | python3 -c 'import sys, json, base64; t = json.load(sys.stdin)["token"].split(".")[1]; c = json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))); sys.exit(0 if c["access"][0]["actions"] == ["pull"] else 1)' || die "O1: the member's pull in bigorg is not granted"
warm -H "$O1_AUTH" "$BERTH_URL$O1_ORG_PATH"
warm -H "$O1_AUTH" "$BERTH_URL$O1_OWN_PATH"
O1_RATIOS=()
for pair in 1 2 3; do
  wrk_run "O1own-$pair" "$BERTH_URL$O1_OWN_PATH" -H "$O1_AUTH"
  wrk_run "O1org-$pair" "$BERTH_URL$O1_ORG_PATH" -H "$O1_AUTH"
  O1_RATIOS+=("$(python3 -c "print('%.2f' % (${RPS[O1org-$pair]} / ${RPS[O1own-$pair]}))")")
done
O1_PAIR=$(for i in 1 2 3; do echo "${O1_RATIOS[$((i - 1))]} $i"; done | sort -n | sed -n 2p | cut -d' ' -f2)
log "O1 org / own per pair: ${O1_RATIOS[*]} (median: pair $O1_PAIR)"
O2_COOKIE=$(login_cookie orgm0)
for org in tinyorg bigorg; do
  page=$(curl -fs -H "Cookie: $O2_COOKIE" "$BERTH_URL/orgs/$org") || die "O2: the overview of $org"
  grep -q 'orgm1' <<<"$page" || die "O2: the overview of $org lists no member"
  warm -H "Cookie: $O2_COOKIE" "$BERTH_URL/orgs/$org"
  wrk_run "O2-$org" "$BERTH_URL/orgs/$org" -H "Cookie: $O2_COOKIE"
done
stop_berth

# ---- PostgreSQL: P1, P4, P5 --------------------------------------------------------
if [[ -z ${SKIP_POSTGRES:-} ]]; then
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx; }
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  PG_DIR=/var/tmp/berth-bench-pg-$$
  PG_URL=$(bash scripts/postgres.sh start "$PG_DIR") || die "PostgreSQL did not start"
  trap 'bash scripts/postgres.sh stop "$PG_DIR" >/dev/null 2>&1; rm -rf "$PG_DIR"; cleanup' EXIT
  pg_db() { psql -q "$PG_URL" -c "CREATE DATABASE $1" >/dev/null && echo "${PG_URL%/*}/$1"; }
  PG_SMALL_URL=$(pg_db small)
  log "P1: seeding the small dataset on PostgreSQL"
  BERTH_DATABASE_URL=$PG_SMALL_URL BERTH_DATA=$WORK/pg-small "$BERTH" dev seed --prefix bench --users 1000 --tokens-per-user 1 --plan team --password "$PASSWORD" --tokens-out "$WORK/pg-small.tokens" >"$OUT/seed-pg-small.txt"
  read -r PG_USER PG_TOKEN < <(head -1 "$WORK/pg-small.tokens")
  PG_PATH="/token?service=$SERVICE&scope=repository:$PG_USER/app:pull,push"
  start_berth "$SMALL" "$OUT/berth-p1-sqlite.log"
  SQ_URL=$BERTH_URL SQ_PID=$BERTH_PID
  DB_URL=$PG_SMALL_URL start_berth "$WORK/pg-small" "$OUT/berth-p1-pg.log"
  PG_BERTH_URL=$BERTH_URL PG_PID=$BERTH_PID
  curl -fs -o /dev/null -u "$PG_USER:$PG_TOKEN" "$PG_BERTH_URL$PG_PATH" || die "P1: the PAT is refused on PostgreSQL"
  warm -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")" "$SQ_URL$TOKEN_URL_PATH"
  warm -H "Authorization: Basic $(basic "$PG_USER" "$PG_TOKEN")" "$PG_BERTH_URL$PG_PATH"
  P1_RATIOS=()
  for pair in 1 2 3; do
    wrk_run "P1sqlite-$pair" "$SQ_URL$TOKEN_URL_PATH" -H "Authorization: Basic $(basic "$W1_USER" "$W1_TOKEN")"
    wrk_run "P1pg-$pair" "$PG_BERTH_URL$PG_PATH" -H "Authorization: Basic $(basic "$PG_USER" "$PG_TOKEN")"
    P1_RATIOS+=("$(python3 -c "print('%.2f' % (${RPS[P1pg-$pair]} / ${RPS[P1sqlite-$pair]}))")")
  done
  P1_PAIR=$(for i in 1 2 3; do echo "${P1_RATIOS[$((i - 1))]} $i"; done | sort -n | sed -n 2p | cut -d' ' -f2)
  # statements PostgreSQL ran per /token (BEGIN and COMMIT included): 200 requests, counted
  psql -q "$PG_SMALL_URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
  for _ in $(seq 200); do curl -fs -o /dev/null -u "$PG_USER:$PG_TOKEN" "$PG_BERTH_URL$PG_PATH"; done
  P1_STATEMENTS=$(psql -At "$PG_SMALL_URL" -c "SELECT round(sum(calls) / 200.0, 1) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'small' AND s.query NOT LIKE '%pg_stat_statements%'")
  psql -At "$PG_SMALL_URL" -c "SELECT calls, left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'small' ORDER BY calls DESC LIMIT 12" >"$OUT/p1-statements.txt"
  log "P1: $P1_STATEMENTS statements per /token (PostgreSQL); $OUT/p1-statements.txt"
  # P5: the same PostgreSQL Berth twice behind nginx, against one behind the same nginx
  mkdir -p "$WORK/pg-small-b"
  cp "$WORK/pg-small/master.key" "$WORK/pg-small/registry-key.pem" "$WORK/pg-small/registry-cert.pem" "$WORK/pg-small-b/" 2>/dev/null || cp "$WORK/pg-small/master.key" "$WORK/pg-small-b/"
  chmod 700 "$WORK/pg-small-b"
  DB_URL=$PG_SMALL_URL start_berth "$WORK/pg-small-b" "$OUT/berth-p5-pg-b.log"
  PG_B_URL=$BERTH_URL
  nginx_conf() { # PORT UPSTREAM... -> config file
    local port=$1 dir=$WORK/nginx-$1
    shift
    mkdir -p "$dir"
    {
      echo "daemon off; worker_processes 1; user root; pid $dir/nginx.pid; error_log $dir/error.log warn;"
      echo "events { worker_connections 4096; }"
      echo "http { access_log off; client_body_temp_path $dir/b; proxy_temp_path $dir/p; fastcgi_temp_path $dir/f; uwsgi_temp_path $dir/u; scgi_temp_path $dir/s;"
      echo "  upstream berth {"
      for u in "$@"; do echo "    server ${u#http://} max_fails=1 fail_timeout=2s;"; done
      echo "    keepalive 64; }"
      echo "  server { listen 127.0.0.1:$port; location / { proxy_pass http://berth; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$http_host; } } }"
    } >"$dir/nginx.conf"
    echo "$dir"
  }
  N1_PORT=$(free_port) N2_PORT=$(free_port)
  N1_DIR=$(nginx_conf "$N1_PORT" "$PG_BERTH_URL") N2_DIR=$(nginx_conf "$N2_PORT" "$PG_BERTH_URL" "$PG_B_URL")
  "$NGINX" -c "$N1_DIR/nginx.conf" -p "$N1_DIR" & PIDS+=($!)
  "$NGINX" -c "$N2_DIR/nginx.conf" -p "$N2_DIR" & PIDS+=($!)
  wait_http "http://127.0.0.1:$N1_PORT/healthz"
  wait_http "http://127.0.0.1:$N2_PORT/healthz"
  warm -H "Authorization: Basic $(basic "$PG_USER" "$PG_TOKEN")" "http://127.0.0.1:$N2_PORT$PG_PATH"
  wrk_run P5one "http://127.0.0.1:$N1_PORT$PG_PATH" -H "Authorization: Basic $(basic "$PG_USER" "$PG_TOKEN")"
  wrk_run P5two "http://127.0.0.1:$N2_PORT$PG_PATH" -H "Authorization: Basic $(basic "$PG_USER" "$PG_TOKEN")"
  kill "$BERTH_PID" "$SQ_PID" "$PG_PID" 2>/dev/null || true
  log "P1: pgbench -S on the same server"
  psql -q "$PG_URL" -c "CREATE DATABASE pgbench" >/dev/null
  pgbench -q -i -s 10 "${PG_URL%/*}/pgbench" >"$OUT/pgbench-init.txt" 2>&1
  pgbench -S -c "$CONNECTIONS" -j "$THREADS" -T "$SECONDS_PER_RUN" "${PG_URL%/*}/pgbench" >"$OUT/pgbench-S.txt" 2>&1
  PGBENCH_TPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/pgbench-S.txt" | head -1)
  log "P4: seeding $LARGE_USERS users with $LARGE_TOKENS_PER_USER tokens each on PostgreSQL"
  PG_LARGE_URL=$(pg_db large)
  BERTH_DATABASE_URL=$PG_LARGE_URL BERTH_DATA=$WORK/pg-large "$BERTH" dev seed --prefix big --users "$LARGE_USERS" --tokens-per-user "$LARGE_TOKENS_PER_USER" --plan team --password "$PASSWORD" --tokens-out "$WORK/pg-large.tokens" | tee "$OUT/seed-pg-large.txt"
  PG_SEED_SECONDS=$(sed -n 's/.* in \([0-9.]*\) s$/\1/p' "$OUT/seed-pg-large.txt")
  read -r P4_USER P4_TOKEN < <(sed -n "$(($(wc -l <"$WORK/pg-large.tokens") / 2))p" "$WORK/pg-large.tokens")
  P4_PATH="/token?service=$SERVICE&scope=repository:$P4_USER/app:pull,push"
  DB_URL=$PG_LARGE_URL start_berth "$WORK/pg-large" "$OUT/berth-p4-large.log"
  P4L_URL=$BERTH_URL P4L_PID=$BERTH_PID
  DB_URL=$PG_SMALL_URL start_berth "$WORK/pg-small" "$OUT/berth-p4-small.log"
  P4S_URL=$BERTH_URL P4S_PID=$BERTH_PID
  warm -H "Authorization: Basic $(basic "$P4_USER" "$P4_TOKEN")" "$P4L_URL$P4_PATH"
  wrk_run P4large "$P4L_URL$P4_PATH" -H "Authorization: Basic $(basic "$P4_USER" "$P4_TOKEN")"
  warm -H "Authorization: Basic $(basic "$PG_USER" "$PG_TOKEN")" "$P4S_URL$PG_PATH"
  wrk_run P4small "$P4S_URL$PG_PATH" -H "Authorization: Basic $(basic "$PG_USER" "$PG_TOKEN")"
  kill "$P4L_PID" "$P4S_PID" 2>/dev/null || true
  log "P4: the overview of 10,000 tokens vs 10 on PostgreSQL"
  PG_OVERVIEW_URL=$(pg_db overview)
  BERTH_DATABASE_URL=$PG_OVERVIEW_URL BERTH_DATA=$WORK/pg-overview "$BERTH" dev seed --prefix few --users 1 --tokens-per-user 10 --password "$PASSWORD" >/dev/null
  BERTH_DATABASE_URL=$PG_OVERVIEW_URL BERTH_DATA=$WORK/pg-overview "$BERTH" dev seed --prefix many --users 1 --tokens-per-user 10000 --password "$PASSWORD" >/dev/null
  DB_URL=$PG_OVERVIEW_URL start_berth "$WORK/pg-overview" "$OUT/berth-p4-overview.log"
  overview_runs pg-overview
  stop_berth
fi

# ---- criterion ---------------------------------------------------------------------
CRIT=""
if [[ -z ${SKIP_CRITERION:-} ]]; then
  log "criterion: cargo bench --bench tokens"
  cargo bench --locked --bench tokens -- --noplot 2>&1 | tee "$OUT/criterion.txt" >/dev/null
  CRIT=$(awk '/time:/ {print prev " " $0} {prev = $0}' "$OUT/criterion.txt" | sed "s/  */ /g")
fi

# ---- the table ---------------------------------------------------------------------
ratio() { python3 -c "print('%.2f' % ($1))"; }
ok() { python3 -c "print('met' if ($1) else '**NOT MET**')"; }
mb() { python3 -c "print('%.1f' % ($1 / 1024))"; }
{
  echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s; $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "| Workload | Measured | Compared with | Ratio | Target | |"
  echo "|---|---|---|---:|---|---|"
  r=$(ratio "${RPS[W1]} / ${RPS[healthz]}")
  echo "| W1 /token, PAT, push scope (median of 3 pairs: ${W1_RATIOS[*]}) | ${RPS[W1]} req/s, p50 ${P50[W1]} ms, p99 ${P99[W1]} ms | /healthz ${RPS[healthz]} req/s | $r | ≥ 0.50 | $(ok "$r >= 0.5") |"
  r=$(ratio "${P99[W1]} / ${P50[W1]}")
  echo "| W1 tail | p99 ${P99[W1]} ms | p50 ${P50[W1]} ms | $r | ≤ 10 | $(ok "$r <= 10") |"
  r=$(ratio "${RPS[W2]} / ${RPS[W1]}")
  echo "| W2 /token, password (cached ≤ 5 min) | ${RPS[W2]} req/s, p99 ${P99[W2]} ms | W1 ${RPS[W1]} req/s | $r | ≥ 0.50 | $(ok "$r >= 0.5") |"
  r=$(ratio "${P99[W3]} / ${P99[W1]}")
  echo "| W3 W1 during 50 correct-password logins (${FLOOD_LOGINS:-?}) | p99 ${P99[W3]} ms, ${RPS[W3]} req/s | W1 alone p99 ${P99[W1]} ms | $r | ≤ 2 | $(ok "$r <= 2") |"
  r=$(ratio "${RPS[W4large]} / ${RPS[W4small]}")
  echo "| W4 W1 on $LARGE_TOKENS tokens | ${RPS[W4large]} req/s, p99 ${P99[W4large]} ms | 1,000 tokens ${RPS[W4small]} req/s | $r | ≥ 0.80 | $(ok "$r >= 0.8") |"
  r=$(ratio "${RPS[overview-few0]} / ${RPS[overview-many0]}")
  echo "| W4 overview, 10,000 tokens | ${RPS[overview-many0]} req/s, p50 ${P50[overview-many0]} ms | 10 tokens ${RPS[overview-few0]} req/s, p50 ${P50[overview-few0]} ms | $r (time) | ≤ 2 | $(ok "$r <= 2") |"
  echo "| W5 1,000 tokens in rotation | ${RPS[W5]} req/s, p99 ${P99[W5]} ms; $W5_WRITES last-use writes in ${W5_SECONDS} s; 'database is locked' $W5_LOCKED× | ≤ $W5_ALLOWED writes allowed | | ≤ 1/min/token, no lock | $(ok "$W5_WRITES <= $W5_ALLOWED and $W5_LOCKED == 0") |"
  echo "| W6 peak RSS under W1 | $(mb "$PEAK_RSS") MiB | | | ≤ 64 MiB | $(ok "$PEAK_RSS <= 65536") |"
  echo "| W6 idle RSS | $(mb "$IDLE_RSS") MiB | | | ≤ 32 MiB | $(ok "$IDLE_RSS <= 32768") |"
  r=$(ratio "${RPS[W7token]} / ${RPS[W7jwt]}")
  echo "| W7 /token vs the registry's manifest GET (Berth JWT) | /token ${RPS[W7token]} req/s | registry ${RPS[W7jwt]} req/s | $r | ≥ 5 | $(ok "$r >= 5") |"
  r=$(ratio "${RPS[W7token]} / ${RPS[W7htpasswd]}")
  echo "| W7 the same registry with htpasswd (bcrypt) | | registry ${RPS[W7htpasswd]} req/s | $r | (context) | |"
  r=$(ratio "${RPS[O1org-$O1_PAIR]} / ${RPS[O1own-$O1_PAIR]}")
  echo "| O1 /token, member's pull in an organization of 50 teams, 10,000 repositories (median of 3 pairs: ${O1_RATIOS[*]}) | ${RPS[O1org-$O1_PAIR]} req/s, p99 ${P99[O1org-$O1_PAIR]} ms | own namespace ${RPS[O1own-$O1_PAIR]} req/s | $r | ≥ 0.80 | $(ok "$r >= 0.8") |"
  r=$(ratio "${RPS[O2-tinyorg]} / ${RPS[O2-bigorg]}")
  echo "| O2 organization overview, 1,000 members, 10,000 repositories | ${RPS[O2-bigorg]} req/s, p50 ${P50[O2-bigorg]} ms | 5 members, 10 repositories ${RPS[O2-tinyorg]} req/s, p50 ${P50[O2-tinyorg]} ms | $r (time) | ≤ 2 | $(ok "$r <= 2") |"
  echo "| seed $LARGE_USERS users, $LARGE_TOKENS tokens | ${SEED_SECONDS} s | | | well under 60 s | $(ok "${SEED_SECONDS:-999} < 45") |"
  if [[ -z ${SKIP_POSTGRES:-} ]]; then
    r=$(ratio "${RPS[P1pg-$P1_PAIR]} / ${RPS[P1sqlite-$P1_PAIR]}")
    echo "| P1 W1 on PostgreSQL (median of 3 pairs: ${P1_RATIOS[*]}) | ${RPS[P1pg-$P1_PAIR]} req/s, p50 ${P50[P1pg-$P1_PAIR]} ms, p99 ${P99[P1pg-$P1_PAIR]} ms | W1 on SQLite ${RPS[P1sqlite-$P1_PAIR]} req/s | $r | ≥ 0.40 | $(ok "$r >= 0.4") |"
    echo "| P1 pgbench -S, same server, -c$CONNECTIONS -j$THREADS | ${PGBENCH_TPS:-?} tps | | | (context) | |"
    echo "| P1 statements per /token on PostgreSQL (BEGIN, COMMIT included) | ${P1_STATEMENTS:-?} | | | (context) | |"
    r=$(ratio "${RPS[P4large]} / ${RPS[P4small]}")
    echo "| P4 W1 on PostgreSQL, $((LARGE_USERS * LARGE_TOKENS_PER_USER)) tokens (seeded in ${PG_SEED_SECONDS:-?} s) | ${RPS[P4large]} req/s, p99 ${P99[P4large]} ms | 1,000 tokens ${RPS[P4small]} req/s | $r | ≥ 0.80 | $(ok "$r >= 0.8") |"
    r=$(ratio "${RPS[pg-overview-few0]} / ${RPS[pg-overview-many0]}")
    echo "| P4 overview on PostgreSQL, 10,000 tokens | ${RPS[pg-overview-many0]} req/s, p50 ${P50[pg-overview-many0]} ms | 10 tokens ${RPS[pg-overview-few0]} req/s | $r (time) | ≤ 2 | $(ok "$r <= 2") |"
    r=$(ratio "${RPS[P5two]} / ${RPS[P5one]}")
    echo "| P5 W1 on PostgreSQL through nginx, two instances | ${RPS[P5two]} req/s, p99 ${P99[P5two]} ms | one instance ${RPS[P5one]} req/s | $r | (report) | |"
  fi
  if [[ -n $CRIT ]]; then
    echo
    echo "criterion (\`cargo bench --bench tokens\`):"
    echo
    echo '```'
    echo "$CRIT"
    echo '```'
  fi
} | tee "$OUT/table.md"

# R1-R3, the registry's notifications, on the same release build, their table after this one
if [[ -z ${SKIP_EVENTS:-} && $BUILD_DIR == release ]]; then
  log "R1-R3: scripts/bench-events.sh"
  SKIP_BUILD=1 bash scripts/bench-events.sh | tee -a "$OUT/table.md" || die "R1-R3: scripts/bench-events.sh failed"
fi
