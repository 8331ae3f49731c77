#!/usr/bin/env bash
# Writes an upgrade fixture: a data folder made by an older release of Berth, through that
# release's own HTTP interfaces and command line, with a manifest of every secret in it.
# tests/upgrade.rs starts today's Berth on a copy of each fixture and checks that every
# user, password, TOTP secret, recovery code, token, session and repository survived.
#
#   scripts/make-upgrade-fixture.sh REV OUTDIR
#
# Regenerate the committed fixtures (then run `cargo test --locked --test upgrade`):
#
#   scripts/make-upgrade-fixture.sh cda7fbc tests/fixtures/upgrade/cda7fbc
#   scripts/make-upgrade-fixture.sh d65f549 tests/fixtures/upgrade/d65f549
#
# A new fixture folder also needs its line in `fixtures!` in tests/upgrade.rs (a test
# fails until it has one). Regenerating makes new secrets: commit the folder and its
# fixture.json together. Every secret in a fixture is test-only.
#
# What it does:
#  1. checks REV out in a git worktree under target/upgrade-fixture/ and builds its
#     `berth` (dev profile) into CARGO_TARGET_DIR, default this tree's target/ so compiled
#     dependencies are reused (the next build of this tree then rebuilds the berth crate);
#     the worktree is removed at the end, whatever happens;
#  2. starts that `berth serve` on a fresh data folder (BERTH_DATA) on a free loopback
#     port, with no other BERTH_* setting from the caller's environment;
#  3. populates it as people and an operator would (the Python below):
#       admin  operator, made with `berth user add --operator --password-stdin`;
#       alice  signs up on the web, `berth user plan alice pro`; three tokens: "ci push"
#              (Read & Write, web form), "release reader" (Read-only, 90 days, web form),
#              "old laptop" (Read, Write, Delete, JSON API), deactivated on the web
#              overview; alice/app created by a push grant at /token (private),
#              alice/site created on /repositories as public; her web session is kept;
#       bobby  signs up, turns TOTP on at /settings/security (the secret is read off the
#              set-up page, the 10 recovery codes off the answer), signs in at the JSON
#              API with one recovery code (so one is used), creates a token there,
#              creates bobby/tools with a push grant and makes it public on the web;
#              his web session is kept too;
#     ("bob" is shorter than the 4 characters a username needs, hence "bobby");
#  4. stops the server with SIGTERM and waits (SQLite checkpoints and removes its WAL);
#  5. writes OUTDIR/: every file of the data folder but -wal/-shm (the database
#     VACUUMed) and fixture.json: revision, created_at (unix seconds, after the last
#     request), users (password, plan, operator, TOTP secret in base32, unused and used
#     recovery codes), tokens (plaintext, owner, description, scope, active, expires_at,
#     uuid), sessions (cookie name and value, user, user agent, created_at), repositories
#     (owner, name, public) and the registry signing key's id (the `kid` of its JWTs).
#
# Needs git, cargo and python3 (standard library only). OUTDIR must be empty, missing, or
# hold an earlier fixture (a fixture.json), which is replaced.
set -euo pipefail

if [ $# -ne 2 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
REV=$1
OUT=$2
ROOT=$(git rev-parse --show-toplevel)
SHA=$(git -C "$ROOT" rev-parse --verify --quiet "$REV^{commit}") || { echo "unknown revision: $REV" >&2; exit 1; }
SHORT=${SHA:0:7}
WORK=$ROOT/target/upgrade-fixture/$SHORT
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac

if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ] && [ ! -f "$OUT/fixture.json" ]; then
    echo "$OUT holds files but no fixture.json: refusing to replace it" >&2
    exit 1
fi

# Berth's data folder is owner-only whatever the release's own umask handling
umask 077
SERVER=
cleanup() {
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill -TERM "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    if [ -d "$WORK/src" ]; then
        git -C "$ROOT" worktree remove --force "$WORK/src" || true
    fi
}
trap cleanup EXIT

rm -rf "$WORK"
mkdir -p "$WORK"
git -C "$ROOT" worktree prune
git -C "$ROOT" worktree add --quiet --detach "$WORK/src" "$SHA"
echo "building berth at $SHORT ($(git -C "$ROOT" log -1 --format=%s "$SHA" | cut -c1-70))" >&2
(cd "$WORK/src" && cargo build --locked --bin berth --target-dir "$TARGET_DIR")
# a copy: a later build into the same target folder must not change the running binary
cp "$TARGET_DIR/debug/berth" "$WORK/berth"
git -C "$ROOT" worktree remove --force "$WORK/src"

for var in $(compgen -e | grep '^BERTH_' || true); do
    unset "$var"
done
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export BERTH_DATA=$WORK/data
export BERTH_BIND=127.0.0.1:$PORT
export BERTH_PUBLIC_URL=http://127.0.0.1:$PORT
export RUST_LOG=info

"$WORK/berth" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$BERTH_PUBLIC_URL/healthz" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "berth at $SHORT did not start" >&2; exit 1; }
    sleep 0.2
done

python3 - "$BERTH_PUBLIC_URL" "$WORK/berth" "$SHA" "$WORK/fixture.json" <<'PY'
"""Populates a running Berth through its web pages, JSON API, /token and command line."""
import base64
import hashlib
import hmac
import html.parser
import http.cookiejar
import json
import re
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BASE, BERTH, REVISION, MANIFEST = sys.argv[1:5]
SERVICE = "registry.local"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
SESSION_COOKIE = "berth_session"


def check(condition, what):
    if not condition:
        sys.exit(f"make-upgrade-fixture: {what}")


def totp(secret_base32, at):
    """RFC 6238: SHA-1, 6 digits, 30-second steps (what Berth enrols)."""
    key = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 15
    return "%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


class Forms(html.parser.HTMLParser):
    """Every <form> of a page: its action and its hidden fields."""

    def __init__(self, page):
        super().__init__()
        self.forms = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "hidden": {}})
        elif tag == "input" and self.forms and a.get("type") == "hidden" and a.get("name"):
            self.forms[-1]["hidden"][a["name"]] = a.get("value") or ""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping client that fills forms from the page, as a browser does."""

    def __init__(self, agent):
        self.agent = agent
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(BASE + path, data=body, method=method, headers={"User-Agent": self.agent, **(headers or {})})
        try:
            with self.opener.open(req, timeout=30) as res:
                return res.status, res.headers, res.read().decode()
        except urllib.error.HTTPError as res:
            return res.code, res.headers, res.read().decode()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        body = urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded", "Origin": BASE})

    def submit(self, page, action, fields=(), match=None, html_page=None):
        """Posts the form for `action` found on `page` (its hidden fields, then `fields`)."""
        if html_page is None:
            status, _, html_page = self.get(page)
            check(status == 200, f"GET {page} answered {status}")
        for form in Forms(html_page).forms:
            if form["action"] == action and all(form["hidden"].get(k) == v for k, v in (match or {}).items()):
                return self.post(action, {**form["hidden"], **dict(fields)})
        sys.exit(f"make-upgrade-fixture: no form for {action} on {page}")

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def signed_in(self):
        return self.get("/settings/account")[0] == 200


def api(method, path, body=None, jwt=None):
    headers = {"Content-Type": "application/json", "User-Agent": "curl/8.5.0"}
    if jwt:
        headers["Authorization"] = f"Bearer {jwt}"
    data = None if body is None else json.dumps(body).encode()
    status, _, text = Browser("curl/8.5.0").request(method, path, data, headers)
    return status, (json.loads(text) if text else None)


def registry_token(username, secret, scope):
    """What `docker login` / `docker push` asks: GET /token with Basic credentials."""
    query = urllib.parse.urlencode({"service": SERVICE, "scope": scope})
    basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
    status, _, text = Browser("docker/28.2.2 go/go1.24.3 os/linux arch/amd64").request("GET", f"/token?{query}", headers={"Authorization": f"Basic {basic}"})
    return status, (json.loads(text) if text.startswith("{") else text)


def jwt_part(jwt, index):
    part = jwt.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def cli(*args, stdin=None):
    done = subprocess.run([BERTH, *args], input=stdin, capture_output=True, text=True)
    check(done.returncode == 0, f"berth {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def signup(username, password, agent):
    b = Browser(agent)
    status, headers, _ = b.submit("/signup", "/signup", [("username", username), ("email", f"{username}@example.com"), ("password", password)])
    check(status == 303, f"sign-up of {username} answered {status}")
    check(b.signed_in(), f"{username} is signed in after sign-up")
    return b


def web_token(b, description, scope, expiration):
    status, _, page = b.submit("/settings/tokens/new", "/settings/tokens", [("description", description), ("scope", scope), ("expiration", expiration)])
    check(status == 201 or status == 200, f"creating token {description!r} answered {status}")
    found = re.search(r'<code id="token">(berth_pat_[0-9A-Za-z]{38})</code>', page)
    check(found, f"the token {description!r} is on its copy page")
    return found.group(1)


manifest = {"revision": REVISION, "created_at": None, "registry_service": SERVICE, "users": [], "tokens": [], "sessions": [], "repositories": []}
users = {}


def user(username, password, plan, operator=False, totp_secret=None, recovery_codes=(), used_recovery_codes=()):
    entry = {
        "username": username,
        "email": f"{username}@example.com",
        "password": password,
        "plan": plan,
        "operator": operator,
        "totp_secret": totp_secret,
        "recovery_codes": list(recovery_codes),
        "used_recovery_codes": list(used_recovery_codes),
    }
    users[username] = entry
    manifest["users"].append(entry)
    return entry


def token(owner, description, plaintext, scope, active=True, expires_at=None):
    manifest["tokens"].append({"owner": owner, "description": description, "token": plaintext, "scope": scope, "active": active, "expires_at": expires_at})


# The operator, as the README's set-up makes the first user.
admin = user("admin", "operator fixture passphrase", "personal", operator=True)
print(cli("user", "add", "admin", "--email", "admin@example.com", "--operator", "--password-stdin", stdin=admin["password"] + "\n").strip(), file=sys.stderr)

# alice: pro plan, no 2FA, three tokens (one deactivated), two repositories.
alice = user("alice", "alice fixture passphrase", "pro")
a = signup("alice", alice["password"], FIREFOX)
alice_session_at = int(time.time())
print(cli("user", "plan", "alice", "pro").strip(), file=sys.stderr)
ci = web_token(a, "ci push", "repo:write", "none")
token("alice", "ci push", ci, "repo:write")
reader = web_token(a, "release reader", "repo:read", "90")
token("alice", "release reader", reader, "repo:read")
status, jwt = api("POST", "/v2/users/login", {"username": "alice", "password": alice["password"]})
check(status == 200 and jwt.get("token"), f"alice's JSON login answered {status} {jwt}")
alice_jwt = jwt["token"]
status, made = api("POST", "/v2/access-tokens", {"token_label": "old laptop", "scopes": ["repo:admin"], "expires_at": None}, alice_jwt)
check(status == 201, f"creating a token at the JSON API answered {status} {made}")
status, _, _ = a.submit("/settings/tokens", f"/settings/tokens/{made['uuid']}/deactivate")
check(status == 303, f"deactivating 'old laptop' answered {status}")
token("alice", "old laptop", made["token"], "repo:admin", active=False)
check(registry_token("alice", made["token"], "repository:alice/old:pull")[0] == 401, "the deactivated token is refused")

status, body = registry_token("alice", ci, "repository:alice/app:pull,push")
check(status == 200, f"alice's push grant answered {status} {body}")
check(jwt_part(body["token"], 1)["access"] == [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}], f"alice may push: {body}")
manifest["registry_key_id"] = jwt_part(body["token"], 0)["kid"]
manifest["repositories"].append({"owner": "alice", "name": "alice/app", "public": False, "made_by": "a push grant at /token"})
status, _, _ = a.submit("/repositories", "/repositories", [("path", "site"), ("visibility", "public")])
check(status == 303, f"creating alice/site answered {status}")
manifest["repositories"].append({"owner": "alice", "name": "alice/site", "public": True, "made_by": "the /repositories form"})

# bobby: TOTP on, one recovery code used, one token, one repository made public.
bobby_password = "bobby fixture passphrase"
b = signup("bobby", bobby_password, CHROME)
bobby_session_at = int(time.time())
status, headers, _ = b.submit("/settings/security/2fa/enable", "/settings/security/2fa/enable", [("password", bobby_password)])
check(status == 303 and headers["Location"] == "/settings/security/2fa/setup", f"2FA enable answered {status}")
status, _, page = b.get("/settings/security/2fa/setup")
found = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
check(found, "the TOTP secret is on the set-up page")
secret = found.group(1)
status, _, page = b.submit("/settings/security/2fa/setup", "/settings/security/2fa/setup", [("code", totp(secret, time.time()))])
check(status == 200, f"confirming the TOTP code answered {status}")
codes = re.findall(r"<li><code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code></li>", page)
check(len(codes) == 10, f"10 recovery codes shown, found {len(codes)}")
status, challenge = api("POST", "/v2/users/login", {"username": "bobby", "password": bobby_password})
check(status == 401 and challenge.get("login_2fa_token"), f"bobby's JSON login asks for a second factor: {status} {challenge}")
status, jwt = api("POST", "/v2/users/2fa-login", {"login_2fa_token": challenge["login_2fa_token"], "code": codes[0]})
check(status == 200 and jwt.get("token"), f"a recovery code completes bobby's JSON login: {status} {jwt}")
bobby_jwt = jwt["token"]
user("bobby", bobby_password, "personal", totp_secret=secret, recovery_codes=codes[1:], used_recovery_codes=codes[:1])
status, made = api("POST", "/v2/access-tokens", {"token_label": "bobby laptop", "scopes": [], "expires_at": None}, bobby_jwt)
check(status == 201, f"bobby's token answered {status} {made}")
token("bobby", "bobby laptop", made["token"], "repo:admin")
status, body = registry_token("bobby", made["token"], "repository:bobby/tools:pull,push")
check(status == 200 and "push" in jwt_part(body["token"], 1)["access"][0]["actions"], f"bobby's push grant answered {status} {body}")
status, _, page = b.submit("/repositories", "/repositories/visibility", [], match={"name": "bobby/tools", "public": "true"})
if status == 200:
    # later releases ask first before making a repository public: the confirmation form
    status, _, _ = b.submit("/repositories/visibility", "/repositories/visibility", [], html_page=page)
check(status == 303, f"making bobby/tools public answered {status}")
manifest["repositories"].append({"owner": "bobby", "name": "bobby/tools", "public": True, "made_by": "a push grant at /token, then the visibility switch"})

# The operator's password works at /token and the catalog is granted to operators only.
status, body = registry_token("admin", admin["password"], "registry:catalog:*")
check(status == 200 and jwt_part(body["token"], 1)["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}], f"the operator's catalog grant: {status} {body}")

# The sessions kept for the upgrade: still signed in now, their last request the last one.
for browser, username, at in ((a, "alice", alice_session_at), (b, "bobby", bobby_session_at)):
    check(browser.signed_in(), f"{username}'s web session is signed in")
    value = browser.cookie(SESSION_COOKIE)
    check(value, f"{username}'s browser holds {SESSION_COOKIE}")
    manifest["sessions"].append({"username": username, "cookie_name": SESSION_COOKIE, "cookie_value": value, "user_agent": browser.agent, "created_at": at})

# Each token's uuid and expiry as its owner's token list at the JSON API shows them
# (with the JWTs of the password logins above: they last 10 minutes).
for username, owner_jwt in (("alice", alice_jwt), ("bobby", bobby_jwt)):
    status, listed = api("GET", "/v2/access-tokens?page=1&page_size=100", None, owner_jwt)
    check(status == 200, f"{username}'s token list answered {status} {listed}")
    for t in manifest["tokens"]:
        if t["owner"] == username:
            row = next(r for r in listed["results"] if r["token_label"] == t["description"])
            check(row["is_active"] == t["active"], f"{t['description']} is {'active' if t['active'] else 'inactive'}")
            t["uuid"], t["expires_at"] = row["uuid"], row["expires_at"]

manifest["created_at"] = int(time.time())
with open(MANIFEST, "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
print(f"populated: {len(manifest['users'])} users, {len(manifest['tokens'])} tokens, {len(manifest['sessions'])} sessions, {len(manifest['repositories'])} repositories", file=sys.stderr)
PY

# a clean stop: SQLite checkpoints the WAL into berth.db and removes it
kill -TERM "$SERVER"
wait "$SERVER" || { cat "$WORK/server.log" >&2; echo "berth at $SHORT did not stop cleanly" >&2; exit 1; }
SERVER=
if [ -s "$BERTH_DATA/berth.db-wal" ]; then
    echo "berth.db-wal still holds data after the stop" >&2
    exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT"
for f in "$BERTH_DATA"/*; do
    case $f in *-wal|*-shm|*-journal) continue ;; esac
    cp -p "$f" "$OUT/"
done
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("VACUUM"); c.close()' "$OUT/berth.db"
rm -f "$OUT"/berth.db-wal "$OUT"/berth.db-shm
cp "$WORK/fixture.json" "$OUT/fixture.json"
rm -rf "$WORK"
echo "wrote $OUT: $(cd "$OUT" && ls | tr '\n' ' ')" >&2
