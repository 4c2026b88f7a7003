#!/usr/bin/env bash
# Prepares the PostgreSQL that closeloop's read-model tests run against:
# installs Debian's `postgresql` if missing, creates a cluster if there is
# none, starts it if it is down, and creates the role and database
# `closeloop` (owner of the database, so tests can create their schemas).
# Idempotent: run it as often as you like.
#
#   eval "$(tests/setup/postgres.sh | grep ^CLOSELOOP_TEST_DATABASE_URL=)"
#   export CLOSELOOP_TEST_DATABASE_URL
#   cargo test -p closeloop-projector --test store
#
# Prints CLOSELOOP_TEST_DATABASE_URL=postgres://... on its last line.
# Environment: CLOSELOOP_PG_PASSWORD (default "closeloop"; a test-only
# credential, set so the URL works with Debian's default scram-sha-256
# rule for 127.0.0.1 as well as with trust). Run it as root or with sudo.
set -euo pipefail

ROLE=closeloop
DATABASE=closeloop
PASSWORD="${CLOSELOOP_PG_PASSWORD:-closeloop}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Runs a command as the cluster's superuser, over its Unix socket.
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
  else sudo -u postgres "$@"
  fi
}

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if ! installed postgresql; then
  echo "postgres.sh: installing postgresql from Debian packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
fi

# The first cluster listed (Debian creates 15/main at install).
cluster="$(pg_lsclusters --no-header | awk 'NR == 1 { print $1, $2, $3 }')"
if [ -z "$cluster" ]; then
  version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  echo "postgres.sh: creating cluster $version/main" >&2
  as_root pg_createcluster "$version" main
  cluster="$(pg_lsclusters --no-header | awk 'NR == 1 { print $1, $2, $3 }')"
fi
read -r version name port <<<"$cluster"

if ! pg_lsclusters --no-header | awk -v v="$version" -v n="$name" '$1 == v && $2 == n' | grep -q online; then
  echo "postgres.sh: starting cluster $version/$name" >&2
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
fi
for _ in $(seq 1 30); do
  if pg_isready -q -h 127.0.0.1 -p "$port"; then break; fi
  sleep 1
done
if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
  echo "postgres.sh: cluster $version/$name does not accept connections on 127.0.0.1:$port" >&2
  exit 1
fi

psql_admin() {
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"
}

if [ "$(psql_admin -Atc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
  echo "postgres.sh: creating role $ROLE" >&2
  psql_admin -c "CREATE ROLE $ROLE LOGIN"
fi
# Set every time, so the printed URL is right even if it changed.
psql_admin -v password="$PASSWORD" <<'SQL'
ALTER ROLE closeloop WITH LOGIN PASSWORD :'password';
SQL
if [ "$(psql_admin -Atc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
  echo "postgres.sh: creating database $DATABASE" >&2
  psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE"
fi
# A database of its own for the broker fault test's nisshi, which keeps its
# log in PostgreSQL (its own tables) so a broker restart loses nothing.
if [ "$(psql_admin -Atc "SELECT 1 FROM pg_database WHERE datname = '${DATABASE}_broker'")" != 1 ]; then
  echo "postgres.sh: creating database ${DATABASE}_broker" >&2
  psql_admin -c "CREATE DATABASE ${DATABASE}_broker OWNER $ROLE"
fi

url="postgres://$ROLE:$PASSWORD@127.0.0.1:$port/$DATABASE"
if ! psql -X -q -d "$url" -Atc 'SELECT 1' >/dev/null; then
  echo "postgres.sh: cannot log in as $ROLE over TCP; check pg_hba.conf of $version/$name" >&2
  exit 1
fi
echo "CLOSELOOP_TEST_DATABASE_URL=$url"
