#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 for the store tests.
#
# Source it (`. .ci/postgres.sh`): it installs Debian's postgresql when missing, creates a
# cluster in a fresh temporary directory, starts it on a free port on 127.0.0.1 only, exports
#   DRUID_K8S_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:<port>/postgres
# and registers an EXIT trap that stops the cluster and removes its directory.
# The tests that read that variable run against SQLite always, and against PostgreSQL too when
# it is set.

druid_k8s_pg_start() {
  local bin data port user
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "== installing postgresql (Debian package)"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
  fi
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  data=$(mktemp -d /tmp/druid-k8s-pg.XXXXXX)
  # initdb refuses to run as root: use the postgres system user the package creates.
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    chown "$user" "$data"
    chmod 700 "$data"
  else
    user=$(id -un)
  fi
  run_as() { if [ "$(id -un)" = "$user" ]; then "$@"; else su "$user" -s /bin/sh -c "$(printf '%q ' "$@")"; fi; }
  run_as "$bin/initdb" -D "$data/db" -A trust -U postgres --no-sync -E UTF8 >/dev/null
  for port in $(seq 55432 55482); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      if run_as "$bin/pg_ctl" -D "$data/db" -l "$data/log" -w -t 30 \
          -o "-h 127.0.0.1 -p $port -k $data -F" start >/dev/null; then
        export DRUID_K8S_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
        DRUID_K8S_PG_DATA=$data
        DRUID_K8S_PG_BIN=$bin
        DRUID_K8S_PG_USER=$user
        trap druid_k8s_pg_stop EXIT
        echo "== postgresql started: $DRUID_K8S_TEST_POSTGRES_URL"
        return 0
      fi
    fi
  done
  echo "could not start postgresql; see $data/log" >&2
  return 1
}

druid_k8s_pg_stop() {
  if [ -n "${DRUID_K8S_PG_DATA:-}" ]; then
    if [ "$(id -un)" = "$DRUID_K8S_PG_USER" ]; then
      "$DRUID_K8S_PG_BIN/pg_ctl" -D "$DRUID_K8S_PG_DATA/db" -m fast -w stop >/dev/null 2>&1 || true
    else
      su "$DRUID_K8S_PG_USER" -s /bin/sh -c "$DRUID_K8S_PG_BIN/pg_ctl -D $DRUID_K8S_PG_DATA/db -m fast -w stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$DRUID_K8S_PG_DATA"
    unset DRUID_K8S_PG_DATA
  fi
}

druid_k8s_pg_start
