#!/usr/bin/env bash
# The registry's notifications, side by side in one run against a release build:
#   R1  a burst of 10,000 pull events (100 a batch, one batch at a time, as the registry
#       sends them) — events per second (target ≥ 2,000), all counted exactly once, and the
#       same 10,000 sent again counted not at all
#   R2  the Hub API's tag list of a repository of 5,000 tags vs one of 10 (target ≤ 2x time)
#   R3  /token (a PAT, pull) while events stream in at 2,000 a second vs alone (target: at
#       most 10 % slower)
# Usage: scripts/bench-events.sh     (as root: installs wrk if missing; SKIP_BUILD=1 to reuse
# target/release/berth)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C
command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk; }
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --locked --bin berth
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WORK=$(mktemp -d -t berth-events.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
PASSWORD='events bench password'
SECRET=$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '._')
SERVER=""
trap '[[ -n $SERVER ]] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
export BERTH_DATA=$WORK/data
target/release/berth dev seed --prefix evu --users 1 --tokens-per-user 1 --plan team --password "$PASSWORD" --tokens-out "$WORK/tokens" >/dev/null
read -r USER_NAME TOKEN < <(sed -n 1p "$WORK/tokens")
# the registry is not there: the manifest reads fail and wait for a sync, which is all R1-R3 need
# the JSON API's rate limit would answer most of wrk's requests with 429
BERTH_API_RATE_LIMIT=100000000 BERTH_BIND=127.0.0.1:$PORT BERTH_REGISTRY_EVENTS_SECRET=$SECRET BERTH_REGISTRY_URL=http://127.0.0.1:9 RUST_LOG=warn target/release/berth >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do curl -fs "$URL/healthz" >/dev/null && break; sleep 0.1; done
for repo in app big small; do
  curl -fs -u "$USER_NAME:$TOKEN" "$URL/token?service=registry.local&scope=repository:$USER_NAME/$repo:push,pull" >/dev/null
done
python3 scripts/bench_events.py "$URL" "$SECRET" tags "$USER_NAME/app" 1
python3 scripts/bench_events.py "$URL" "$SECRET" tags "$USER_NAME/big" 5000
python3 scripts/bench_events.py "$URL" "$SECRET" tags "$USER_NAME/small" 10
JWT=$(curl -fs -H 'Content-Type: application/json' -d "{\"username\":\"$USER_NAME\",\"password\":\"$PASSWORD\"}" "$URL/v2/users/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
pulls() { curl -fs -H "Authorization: Bearer $JWT" "$URL/v2/repositories/$USER_NAME/app/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pull_count"])'; }
tags_of() { curl -fs -H "Authorization: Bearer $JWT" "$URL/v2/repositories/$USER_NAME/$1/tags/?page_size=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
[[ $(tags_of big) == 5000 && $(tags_of small) == 10 ]] || { echo "the tags were not recorded" >&2; exit 2; }

# R1
read -r R1_RATE R1_SECONDS < <(python3 scripts/bench_events.py "$URL" "$SECRET" pulls "$USER_NAME/app" 10000 burst)
R1_COUNTED=$(pulls)
python3 scripts/bench_events.py "$URL" "$SECRET" pulls "$USER_NAME/app" 10000 burst >/dev/null
R1_AGAIN=$(pulls)

# R2
declare -A RPS P50
for repo in small big big small; do
  out=$(wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -H "Authorization: Bearer $JWT" "$URL/v2/repositories/$USER_NAME/$repo/tags/?page_size=10")
  grep -q Non-2xx <<<"$out" && { echo "R2 $repo: non-2xx answers" >&2; exit 2; }
  RPS[$repo]=$(awk '/Requests\/sec/{print $2}' <<<"$out"); P50[$repo]=$(awk '$1=="50%"{print $2}' <<<"$out")
done

# R3, alone then with events streaming, twice in turn
TOKEN_URL="$URL/token?service=registry.local&scope=repository:$USER_NAME/app:pull"
R3=()
for pair in 1 2; do
  alone=$(wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" -H "Authorization: Basic $(printf '%s' "$USER_NAME:$TOKEN" | base64 -w0)" "$TOKEN_URL" | awk '/Requests\/sec/{print $2}')
  python3 scripts/bench_events.py "$URL" "$SECRET" stream "$USER_NAME/app" "$((SECONDS_PER_RUN + 1))" >"$WORK/streamed-$pair" &
  STREAM=$!
  during=$(wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" -H "Authorization: Basic $(printf '%s' "$USER_NAME:$TOKEN" | base64 -w0)" "$TOKEN_URL" | awk '/Requests\/sec/{print $2}')
  wait $STREAM
  R3+=("$alone $during $(cat "$WORK/streamed-$pair")")
done

ok() { python3 -c "print('met' if ($1) else '**NOT MET**')"; }
echo
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| Workload | Measured | Compared with | Ratio | Target | |"
echo "|---|---|---|---:|---|---|"
echo "| R1 10,000 pull events, 100 a batch | $R1_RATE events/s ($R1_SECONDS s); counted $R1_COUNTED, after the same 10,000 again $R1_AGAIN | 2,000 events/s | $(python3 -c "print('%.2f' % ($R1_RATE / 2000))") | ≥ 1, each counted once | $(ok "$R1_RATE >= 2000 and $R1_COUNTED == 10000 and $R1_AGAIN == 10000") |"
r=$(python3 -c "print('%.2f' % (${RPS[small]} / ${RPS[big]}))")
echo "| R2 tag list (page of 10), 5,000 tags | ${RPS[big]} req/s, p50 ${P50[big]} | 10 tags ${RPS[small]} req/s, p50 ${P50[small]} | $r (time) | ≤ 2 | $(ok "$r <= 2") |"
for i in 0 1; do
  read -r alone during streamed <<<"${R3[$i]}"
  r=$(python3 -c "print('%.2f' % ($during / $alone))")
  echo "| R3 /token while $streamed events stream in (pair $((i + 1))) | $during req/s | alone $alone req/s | $r | ≥ 0.90 | $(ok "$r >= 0.9") |"
done
