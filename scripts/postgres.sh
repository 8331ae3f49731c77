#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: a fresh cluster in a folder of its own, tuned for
# speed over durability, reachable on 127.0.0.1 with a password.
#
#   scripts/postgres.sh start DIR   initdb a new cluster in DIR (absent or empty), start it and
#                                   print its URL, postgres://berth:PASSWORD@127.0.0.1:PORT/postgres
#                                   (also written to DIR/url)
#   scripts/postgres.sh stop DIR    stop the server of DIR; nothing to do if it is not running
#
# DIR holds data/ (the cluster), password, url, log (the server's log) and the unix socket.
# PostgreSQL refuses to run as root: run as root, the server runs as the system user berth-pg
# (made if missing), so every folder above DIR must be searchable by others.
set -euo pipefail
# the folder holds a password and a URL with it in: nobody else reads anything in it
umask 077

PG_USER=berth-pg
SUPERUSER=berth
# who runs initdb, the server and pg_ctl when we are root (stop: whoever owns the cluster)
OWNER="$PG_USER"

die() {
  echo "scripts/postgres.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: scripts/postgres.sh start DIR | stop DIR" >&2
  exit 2
}

# The newest installed server: Debian keeps each major version's binaries off PATH.
find_bin() {
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$newest" || ! -x "$newest/initdb" || ! -x "$newest/pg_ctl" ]]; then
    die "PostgreSQL is not installed (apt-get install postgresql)"
  fi
  BIN="$newest"
}

# Runs a command as the user that owns the cluster: $OWNER when we are root, else ourselves.
as_owner() {
  if ((EUID == 0)) && [[ "$OWNER" != root ]]; then
    runuser -u "$OWNER" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

show_log() {
  if [[ -s "$1" ]]; then
    echo "--- last lines of $1:" >&2
    tail -n 20 "$1" >&2
  fi
}

start() {
  local dir="$1"
  find_bin
  command -v python3 >/dev/null 2>&1 || die "python3 is needed to pick a free port"
  if [[ -e "$dir" ]]; then
    [[ -d "$dir" ]] || die "$dir exists and is not a folder"
    [[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty: give a new or empty folder"
  fi
  # folders made above DIR stay searchable, so berth-pg can reach DIR through them
  (umask 022 && mkdir -p "$dir") || die "cannot create $dir"
  dir=$(cd "$dir" && pwd -P)
  chmod 0700 "$dir"

  if ((EUID == 0)); then
    command -v runuser >/dev/null 2>&1 || die "runuser is needed to run PostgreSQL as $PG_USER (apt-get install util-linux)"
    if ! getent passwd "$PG_USER" >/dev/null; then
      # another start may make it at the same moment: only its absence afterwards is an error
      useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER" 2>/dev/null ||
        getent passwd "$PG_USER" >/dev/null || die "could not create the system user $PG_USER"
    fi
    chown "$PG_USER:" "$dir"
    runuser -u "$PG_USER" -- test -w "$dir" ||
      die "$PG_USER cannot write to $dir: every folder above it must be searchable by others (chmod o+x)"
  fi
  # the server and initdb must not inherit a working folder their user cannot enter
  cd "$dir"

  # a unix socket's path is at most 107 bytes; the port adds up to 5 digits
  local socket_probe="$dir/.s.PGSQL.65535"
  ((${#socket_probe} <= 107)) || die "$dir is too long a path for PostgreSQL's unix socket (at most 92 characters)"
  [[ "$dir" != *"'"* ]] || die "$dir must not contain a single quote"

  # 32 random bytes in hex: nothing in the URL needs escaping
  local password
  password=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" >"$dir/password"
  if ((EUID == 0)); then
    chown "$PG_USER:" "$dir/password"
  fi

  # C locale: text compares and sorts byte by byte, as in SQLite, and needs no locale installed
  if ! as_owner "$BIN/initdb" --pgdata="$dir/data" --username="$SUPERUSER" --pwfile="$dir/password" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    show_log "$dir/initdb.log"
    die "initdb failed in $dir/data"
  fi

  # Settings for a test server: durability off (a crash loses only a test's data), enough
  # connections for several test servers' pools at once. Kept in a file of their own so the
  # port can be rewritten if another process takes it first.
  echo "include_if_exists = 'berth.conf'" >>"$dir/data/postgresql.conf"

  local port attempt logged
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    logged=$(stat -c %s "$dir/log" 2>/dev/null || echo 0)
    as_owner tee "$dir/data/berth.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
# counts statements per query, for scripts/bench.sh's queries per /token
shared_preload_libraries = 'pg_stat_statements'
EOF
    if as_owner "$BIN/pg_ctl" --pgdata="$dir/data" --log="$dir/log" --wait --timeout=60 --silent start >&2; then
      break
    fi
    # the port was free when picked but someone bound it since: pick another
    if ((attempt < 5)) && tail -c +"$((logged + 1))" "$dir/log" 2>/dev/null | grep -q 'Address already in use'; then
      echo "scripts/postgres.sh: port $port was taken meanwhile: trying another" >&2
      continue
    fi
    show_log "$dir/log"
    die "PostgreSQL did not start in $dir"
  done

  local url="postgres://$SUPERUSER:$password@127.0.0.1:$port/postgres"
  printf '%s\n' "$url" >"$dir/url"
  if ! PGCONNECT_TIMEOUT=10 "$BIN/psql" -XAtq -c 'select 1' "$url" >/dev/null 2>"$dir/check.log"; then
    show_log "$dir/check.log"
    as_owner "$BIN/pg_ctl" --pgdata="$dir/data" --mode=fast --wait --silent stop >&2 || true
    die "PostgreSQL started in $dir but refused its own URL"
  fi
  printf '%s\n' "$url"
}

stop() {
  local dir="$1"
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    echo "scripts/postgres.sh: no PostgreSQL cluster in $dir: nothing to stop" >&2
    return 0
  fi
  # the cluster's own version of pg_ctl if it is still installed, else the newest
  BIN="/usr/lib/postgresql/$(cat "$dir/data/PG_VERSION")/bin"
  [[ -x "$BIN/pg_ctl" ]] || find_bin
  dir=$(cd "$dir" && pwd -P)
  cd "$dir"
  OWNER=$(stat -c %U "$dir/data")
  # pg_ctl status: 3 when no server runs (a stale pid file included)
  local status=0
  as_owner "$BIN/pg_ctl" --pgdata="$dir/data" status >/dev/null 2>&1 || status=$?
  if ((status == 3)); then
    return 0
  fi
  as_owner "$BIN/pg_ctl" --pgdata="$dir/data" --mode=fast --wait --timeout=60 --silent stop >&2 ||
    die "could not stop PostgreSQL in $dir (see $dir/log)"
}

(($# == 2)) || usage
case "$1" in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
