#!/usr/bin/env bash
# The project's test command: installs the system packages the tests drive (Debian), then
# runs every test. Arguments go to `cargo test`, e.g. `scripts/test.sh --test browser`.
set -euo pipefail

# Debian packages the tests need, and a command each one provides (to see what is missing):
# a name looked up on PATH, or an absolute path for a file kept off PATH.
# Add entries here as tests need more tools (docker-registry, skopeo, docker.io, ...).
PACKAGES=(
  chromium:chromium
  chromium-driver:chromedriver
  tidy:tidy
  docker-registry:docker-registry
  skopeo:skopeo
  docker.io:docker
  util-linux:runuser
  # the registry's other clients (tests/clients.rs): rootful, on containers-storage's vfs
  # driver and without running a container, so neither fuse-overlayfs nor slirp4netns
  podman:podman
  buildah:buildah
  containerd:ctr
  # the PostgreSQL test servers (scripts/postgres.sh); Debian keeps the server binaries off PATH
  postgresql:/usr/lib/postgresql/15/bin/pg_ctl
  nginx:nginx
  # pg_dump, for the secrets audit of the PostgreSQL databases
  postgresql-client:pg_dump
  # the build: libpq is built into Berth (pq-sys "bundled") against OpenSSL's headers
  libssl-dev:/usr/include/openssl/ssl.h
  pkgconf:pkg-config
)

cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
for entry in "${PACKAGES[@]}"; do
  package="${entry%%:*}"
  command="${entry#*:}"
  if [[ "$command" == /* ]]; then
    [[ -e "$command" ]] || missing+=("$package")
  elif ! command -v "$command" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# schemathesis (PyPI) checks the JSON API against its OpenAPI document (tests/openapi.rs)
SCHEMATHESIS_VERSION=4.32.5
if ! command -v schemathesis >/dev/null 2>&1; then
  echo "scripts/test.sh: installing schemathesis $SCHEMATHESIS_VERSION" >&2
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi

# oras-py (PyPI), the oras client of tests/clients.rs: the README's client notes describe
# this version's token handling
ORAS_VERSION=0.2.43
if ! python3 -c "import oras.version, sys; sys.exit(oras.version.__version__ != '$ORAS_VERSION')" >/dev/null 2>&1; then
  echo "scripts/test.sh: installing oras $ORAS_VERSION" >&2
  python3 -m pip install --quiet "oras==$ORAS_VERSION"
fi

# A throwaway PostgreSQL server (scripts/postgres.sh) for the run on PostgreSQL and the
# tests of what only PostgreSQL does; stopped however this script ends. Its folder is new
# for each run and under /var/tmp: the server runs as its own user, which must reach it
# (a clone under a private folder would not do).
PG_DIR="/var/tmp/berth-test-postgres-$$"
rm -rf "$PG_DIR"
stop_postgres() {
  bash scripts/postgres.sh stop "$PG_DIR" >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap stop_postgres EXIT
BERTH_TEST_POSTGRES_URL="$(bash scripts/postgres.sh start "$PG_DIR")"
export BERTH_TEST_POSTGRES_URL

if (($# > 0)); then
  cargo test --locked "$@"
  exit
fi


# Formatting (rustfmt.toml) and lints first: a red line here is cheaper than a test run.
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

# The whole suite, then the secrets audit over what it left behind (tests/secrets.rs): every
# test server logs into, and keeps its data folder under, BERTH_SECRETS_AUDIT_DIR.
export BERTH_SECRETS_AUDIT_DIR="$PWD/target/secrets-audit"
rm -rf "$BERTH_SECRETS_AUDIT_DIR"
mkdir -p "$BERTH_SECRETS_AUDIT_DIR"
started=$SECONDS
cargo test --locked
echo "scripts/test.sh: the suite on SQLite took $((SECONDS - started)) s" >&2
# The integration suite again on PostgreSQL: every test server on a new database of the
# test server. Tests of SQLite itself (its file, pragmas, backups, full disk, upgrades of
# old SQLite databases) say so in their names and run only above.
started=$SECONDS
BERTH_TEST_BACKEND=postgres cargo test --locked --test web --test registry --test clients --test browser --test load --test openapi --test faults --test cli -- --skip sqlite
echo "scripts/test.sh: the suite on PostgreSQL took $((SECONDS - started)) s" >&2
cargo test --locked --test secrets -- --ignored --exact the_whole_suite_left_no_secret_in_logs_or_databases
