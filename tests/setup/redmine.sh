#!/usr/bin/env bash
# Starts a real Redmine 5 for closeloop's integration tests, installing it
# from Debian packages first if needed (see shared/notes/redmine.md).
# Idempotent: a Redmine already answering on the port is reused.
#
#   tests/setup/redmine.sh        # then: cargo test -p closeloop-actuator
#
# Environment: REDMINE_PORT (default 3300), REDMINE_STATE_DIR (default
# /tmp/closeloop-redmine). Prints REDMINE_URL=... and REDMINE_API_KEY_FILE=...
# Stop it with: kill "$(cat "${REDMINE_STATE_DIR:-/tmp/closeloop-redmine}/server.pid")"
# Run it as root (or with sudo available): installing needs it, and Debian's
# Redmine writes its logs and caches under /var as root/www-data.
set -euo pipefail

PORT="${REDMINE_PORT:-3300}"
STATE="${REDMINE_STATE_DIR:-/tmp/closeloop-redmine}"
URL="http://127.0.0.1:${PORT}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REDMINE_HOME=/usr/share/redmine

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_redmine() {
  echo "redmine.sh: installing redmine from Debian packages" >&2
  as_root debconf-set-selections <<'P'
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
P
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    redmine redmine-sqlite ruby-webrick
}

answers() {
  curl -fsS -m 5 -o /dev/null "${URL}/" 2>/dev/null
}

if ! installed redmine || ! installed redmine-sqlite || ! installed ruby-webrick; then
  install_redmine
fi

mkdir -p "$STATE"
# Debian's bundler setup hides webrick, which Rails 6 needs to serve.
printf "eval_gemfile '%s/Gemfile'\ngem 'webrick'\n" "$REDMINE_HOME" > "$STATE/Gemfile"
export BUNDLE_GEMFILE="$STATE/Gemfile" RAILS_ENV=production

cd "$REDMINE_HOME"
# The runner also works while a server is running (SQLite, short writes).
api_key="$(bin/rails runner "$HERE/redmine-setup.rb" 2>"$STATE/setup.log" | tail -n 1)"
if [ -z "$api_key" ]; then
  echo "redmine.sh: redmine-setup.rb printed no API key; see $STATE/setup.log" >&2
  exit 1
fi
umask 077
printf '%s\n' "$api_key" > "$STATE/api_key"

if ! answers; then
  echo "redmine.sh: starting redmine on $URL (log: $STATE/server.log)" >&2
  rm -f "$STATE/server.pid"
  nohup bin/rails server -u webrick -b 127.0.0.1 -p "$PORT" -P "$STATE/server.pid" \
    >"$STATE/server.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    if answers; then break; fi
    sleep 1
  done
  if ! answers; then
    echo "redmine.sh: redmine did not answer on $URL within 120 s; see $STATE/server.log" >&2
    exit 1
  fi
fi

# The REST API answers 403 until the setting is on; check with the key.
if ! curl -fsS -m 10 -o /dev/null -H "X-Redmine-API-Key: $api_key" "${URL}/users/current.json"; then
  echo "redmine.sh: redmine answers but its REST API rejects the admin key" >&2
  exit 1
fi

echo "REDMINE_URL=$URL"
echo "REDMINE_API_KEY_FILE=$STATE/api_key"
