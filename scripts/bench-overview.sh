#!/usr/bin/env bash
# The token overview page of a user with 10,000 tokens vs one with 10, side by side in one
# run against a release build (target: the big one within 2x the small one's time).
# Usage: scripts/bench-overview.sh     (as root: installs wrk if missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C
command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk; }
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --bin berth
WORK=$(mktemp -d -t berth-overview.XXXXXX)
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
export BERTH_DATA=$WORK/data BERTH_BIND=127.0.0.1:$PORT
SERVER=""
trap '[[ -n $SERVER ]] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
target/release/berth dev seed --prefix small --users 1 --tokens-per-user 10 --password 'overview bench password'
target/release/berth dev seed --prefix big --users 1 --tokens-per-user 10000 --password 'overview bench password'
target/release/berth >"$WORK/server.log" 2>&1 & SERVER=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

# sign in as a browser would; prints the session cookie
login() {
  local jar=$WORK/$1.jar token
  token=$(curl -fs -c "$jar" "http://127.0.0.1:$PORT/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
  curl -fs -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$token" \
    --data-urlencode "login=$1" --data-urlencode "password=overview bench password" "http://127.0.0.1:$PORT/login" | grep -q 303
  awk '$6 == "berth_session" {print "berth_session=" $7}' "$jar"
}
declare -A P50 P99 RPS
for who in small0 big0; do
  cookie=$(login "$who")
  curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$PORT/settings/tokens" | grep -q 'id="tokens"'
  wrk -t1 -c4 -d10s --latency -H "Cookie: $cookie" "http://127.0.0.1:$PORT/settings/tokens" >/dev/null   # warm-up
  out=$(wrk -t1 -c4 -d15s --latency -H "Cookie: $cookie" "http://127.0.0.1:$PORT/settings/tokens")
  echo "== $who"; echo "$out"
  P50[$who]=$(awk '$1=="50%"{print $2}' <<<"$out"); P99[$who]=$(awk '$1=="99%"{print $2}' <<<"$out")
  RPS[$who]=$(awk '/Requests\/sec/{print $2}' <<<"$out")
done
echo
echo "| /settings/tokens | p50 | p99 | req/s |"
echo "|---|---|---|---|"
for who in small0 big0; do echo "| $who ($([[ $who == big0 ]] && echo 10000 || echo 10) tokens) | ${P50[$who]} | ${P99[$who]} | ${RPS[$who]} |"; done
python3 -c "print('throughput ratio small/big: %.2f (target <= 2)' % (float('${RPS[small0]}')/float('${RPS[big0]}')))"
