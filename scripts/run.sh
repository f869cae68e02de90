#!/usr/bin/env bash
# make run: the whole Taskhook pipeline in the foreground with development defaults.
# Every default below can be overridden from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/taskhook?sslmode=disable}
export INGEST_ADDR=${INGEST_ADDR:-127.0.0.1:8080}
export DISPATCHER_ADDR=${DISPATCHER_ADDR:-127.0.0.1:8081}
export TASKHOOK_INGEST_TOKENS=${TASKHOOK_INGEST_TOKENS:-dev-ingest-token}
export TASKHOOK_ADMIN_TOKENS=${TASKHOOK_ADMIN_TOKENS:-dev-admin-token}
export TASKHOOK_VIEWER_TOKENS=${TASKHOOK_VIEWER_TOKENS:-dev-viewer-token}
# A fixed development key so that stored secrets survive restarts. Never use it in production.
export TASKHOOK_ENCRYPTION_KEY=${TASKHOOK_ENCRYPTION_KEY:-ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=}
export TASKHOOK_ALLOW_HTTP=${TASKHOOK_ALLOW_HTTP:-true}
export TASKHOOK_ALLOWED_NETWORKS=${TASKHOOK_ALLOWED_NETWORKS:-127.0.0.0/8,::1/128}
export TASKHOOK_LOG_LEVEL=${TASKHOOK_LOG_LEVEL:-info}

hostport() { # URL -> host port
  local rest=${1#*://}; rest=${rest##*@}; rest=${rest%%/*}; rest=${rest%%\?*}
  echo "${rest%:*} ${rest##*:}"
}
reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

read -r nh np < <(hostport "${NATS_URL%%,*}")
if ! reachable "$nh" "$np"; then
  echo "make run: NATS is not reachable at $NATS_URL." >&2
  echo "  Start the machine's server:  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log" >&2
  echo "  or the project's own build:  make bin/nats-server && bin/nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/taskhook-nats &" >&2
  exit 1
fi
read -r ph pp < <(hostport "$DATABASE_URL")
if ! reachable "$ph" "$pp"; then
  echo "make run: PostgreSQL is not reachable at $ph:$pp." >&2
  echo "  Start it:  pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
  exit 1
fi
db=${DATABASE_URL##*/}; db=${db%%\?*}
admin_url=${DATABASE_URL%/*}/postgres?${DATABASE_URL#*\?}
if command -v psql >/dev/null; then
  if [ "$(psql "$admin_url" -Atc "select 1 from pg_database where datname='$db'")" != 1 ]; then
    echo "make run: creating database $db"
    psql "$admin_url" -qc "create database \"$db\""
  fi
else
  echo "make run: psql not found; assuming database $db exists (apt-get install postgresql-client to let make run create it)" >&2
fi

cat <<EOT
Taskhook is starting (development defaults; override any of them from the environment):
  ingest       http://$INGEST_ADDR      publisher token:  $TASKHOOK_INGEST_TOKENS
  dispatcher   http://$DISPATCHER_ADDR  admin token:      $TASKHOOK_ADMIN_TOKENS  viewer token: $TASKHOOK_VIEWER_TOKENS
  dashboard    http://$DISPATCHER_ADDR/ui/  (sign in with either token)
  NATS         $NATS_URL
  PostgreSQL   $DATABASE_URL
  TASKHOOK_ENCRYPTION_KEY is a fixed development key; TASKHOOK_ALLOW_HTTP=$TASKHOOK_ALLOW_HTTP for $TASKHOOK_ALLOWED_NETWORKS
Try:  curl -sS -X POST http://$INGEST_ADDR/v1/events -H "Authorization: Bearer $TASKHOOK_INGEST_TOKENS" \\
        -H 'Content-Type: application/json' --data @examples/seed-task-created.json
Stop with Ctrl-C.
EOT

pids=()
stop() { trap - INT TERM EXIT; for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait; }
trap stop INT TERM EXIT
bin/dispatcher & pids+=($!)
bin/ingest & pids+=($!)
wait -n "${pids[@]}"
echo "make run: a process exited; stopping the others" >&2
