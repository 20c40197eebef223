#!/usr/bin/env bash
# Optional: the tests and benches start a throwaway PostgreSQL cluster of their own. This script
# makes a persistent server available instead and prints the admin URL to give them
# (TECHBALANCE_TEST_DATABASE_URL): a role that may create the throwaway databases they make.
#
# Installs PostgreSQL with apt-get when absent and starts the Debian cluster (PostgreSQL refuses to
# run as root, so the cluster runs as the `postgres` user). Idempotent.
set -euo pipefail

ROLE=techbalance_test
PASSWORD=${TECHBALANCE_TEST_PG_PASSWORD:-techbalance_test}
PORT=${TECHBALANCE_TEST_PG_PORT:-5432}

log() { echo "[postgres] $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
  log "creating cluster $version/main"
  pg_createcluster "$version" main --port "$PORT" >&2
fi
status=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}')
if [ "$status" != "online" ]; then
  log "starting cluster $version/main"
  pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')

for _ in $(seq 1 30); do
  runuser -u postgres -- pg_isready -q -p "$port" && break
  sleep 1
done
runuser -u postgres -- pg_isready -p "$port" >&2

# A password login over TCP (the tests connect to 127.0.0.1, where pg_hba asks for scram).
runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 >&2 <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB;
  END IF;
END
\$\$;
ALTER ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$PASSWORD';
SQL

echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$port/postgres"
