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

# Where make run keeps what it starts: the project's nats-server's JetStream store and logs
# (ignored by git). TASKHOOK_BIN is where the binaries are (make build puts them in bin/).
RUN_DIR=${TASKHOOK_RUN_DIR:-.run}
BIN=${TASKHOOK_BIN:-bin}
NATS_SERVER=bin/nats-server # built from the Go module pinned in e2e/go.mod

hostport() { # URL -> host port
  local rest=${1#*://}; rest=${rest##*@}; rest=${rest%%/*}; rest=${rest%%\?*}
  echo "${rest%:*} ${rest##*:}"
}
reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
loopback() { [[ $1 == 127.* || $1 == localhost || $1 == ::1 || $1 == '[::1]' ]]; }
# http_status HOST:PORT PATH -> the status code of a GET (plain bash, no curl needed)
http_status() {
  timeout 2 bash -c 'exec 3<>/dev/tcp/${1%:*}/${1##*:} || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$1" >&3
    IFS=" " read -r _ code _ <&3; echo "$code"' _ "$1" "$2" 2>/dev/null || true
}

pids=()     # the services
nats_pid="" # the nats-server make run started, if any
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$nats_pid" ]; then # last: the services drain their NATS connections first
    kill -TERM "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
    echo "make run: stopped the nats-server it started" >&2
  fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

for addr in "$INGEST_ADDR" "$DISPATCHER_ADDR"; do
  if reachable "${addr%:*}" "${addr##*:}"; then
    echo "make run: $addr is already in use (another make run?)." >&2
    echo "  Fix:  stop what listens there, or choose free addresses: INGEST_ADDR=127.0.0.1:9080 DISPATCHER_ADDR=127.0.0.1:9081 make run" >&2
    exit 1
  fi
done
read -r nh np < <(hostport "${NATS_URL%%,*}")
if ! reachable "$nh" "$np"; then
  if ! loopback "$nh"; then
    echo "make run: NATS is not reachable at $NATS_URL (not on this machine, so make run cannot start it)." >&2
    echo "  Start it there with JetStream (nats-server -js), or unset NATS_URL to use a local one." >&2
    exit 1
  fi
  if [ ! -x "$NATS_SERVER" ]; then
    echo "make run: no NATS at $NATS_URL; building the project's nats-server (make bin/nats-server, once)"
    make -s bin/nats-server >&2
  fi
  mkdir -p "$RUN_DIR/nats-$np"
  "$NATS_SERVER" -a "$nh" -p "$np" -js -sd "$RUN_DIR/nats-$np" >"$RUN_DIR/nats-$np.log" 2>&1 &
  nats_pid=$!
  for _ in $(seq 100); do reachable "$nh" "$np" && break; kill -0 "$nats_pid" 2>/dev/null || break; sleep 0.1; done
  if ! reachable "$nh" "$np"; then
    echo "make run: the project's nats-server did not start on $nh:$np; its log ($RUN_DIR/nats-$np.log):" >&2
    tail -5 "$RUN_DIR/nats-$np.log" >&2
    echo "  Fix: free the port, or point NATS_URL at a running NATS with JetStream." >&2
    exit 1
  fi
  echo "make run: started the project's nats-server (pid $nats_pid) on $nh:$np with JetStream in $RUN_DIR/nats-$np; it stops with make run"
fi
read -r ph pp < <(hostport "$DATABASE_URL")
if ! reachable "$ph" "$pp"; then
  fix="pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
  if loopback "$ph" && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql)" ]; then
    echo "make run: PostgreSQL is down at $ph:$pp; starting the machine's cluster (it keeps running after make run)"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start >&2 || true
    for _ in $(seq 50); do reachable "$ph" "$pp" && break; sleep 0.2; done
  fi
  if ! reachable "$ph" "$pp"; then
    echo "make run: PostgreSQL is not reachable at $ph:$pp and make run could not start it." >&2
    if loopback "$ph"; then
      echo "  Fix:  $fix   (or: apt-get install postgresql)" >&2
    else
      echo "  Fix:  start PostgreSQL on $ph:$pp, or point DATABASE_URL at a running server." >&2
    fi
    exit 1
  fi
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
  NATS         $NATS_URL
  PostgreSQL   $DATABASE_URL
  tokens       publisher $TASKHOOK_INGEST_TOKENS, admin $TASKHOOK_ADMIN_TOKENS, viewer $TASKHOOK_VIEWER_TOKENS
  TASKHOOK_ENCRYPTION_KEY is a fixed development key; TASKHOOK_ALLOW_HTTP=$TASKHOOK_ALLOW_HTTP for $TASKHOOK_ALLOWED_NETWORKS
EOT

"$BIN/dispatcher" & pids+=($!)
"$BIN/ingest" & pids+=($!)

# Ready when both answer /readyz; a service that exits first ends make run.
ready=""
for _ in $(seq 300); do
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
  if [ "$(http_status "$INGEST_ADDR" /readyz)" = 200 ] && [ "$(http_status "$DISPATCHER_ADDR" /readyz)" = 200 ]; then ready=1; break; fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "make run: the services did not become ready (see their logs above); stopping" >&2
  exit 1
fi
# What is printed works as printed, pasted in another shell in any directory: one token of each
# list (the variables may hold several, comma-separated), absolute paths, values shell-quoted.
admin_token=${TASKHOOK_ADMIN_TOKENS%%,*}
ingest_token=${TASKHOOK_INGEST_TOKENS%%,*}
viewer_token=${TASKHOOK_VIEWER_TOKENS%%,*}
ctl=$BIN/taskhookctl
[[ $ctl == /* ]] || ctl=$PWD/$ctl
seed=$PWD/examples/seed-task-created.json
q() { printf '%q' "$1"; }
dashboard=""
ui=$(http_status "$DISPATCHER_ADDR" /ui/)
if [ -n "$ui" ] && [ "$ui" != 404 ]; then dashboard="  dashboard    http://$DISPATCHER_ADDR/ui/   (sign in with $admin_token)"$'\n'; fi
cat <<EOT

Taskhook is up:
  ingest       http://$INGEST_ADDR      POST /v1/events with Authorization: Bearer $ingest_token
  admin API    http://$DISPATCHER_ADDR/v1   Authorization: Bearer $admin_token (viewer: $viewer_token)
${dashboard}  API docs     http://$INGEST_ADDR/openapi.json  http://$DISPATCHER_ADDR/openapi.json
Try it, in another shell (each line works as printed, from any directory):
  \$ export TASKHOOK_URL=http://$DISPATCHER_ADDR TASKHOOK_TOKEN=$(q "$admin_token") TASKHOOK_INGEST_URL=http://$INGEST_ADDR TASKHOOK_INGEST_TOKEN=$(q "$ingest_token")
  \$ $(q "$ctl") webhooks list
  \$ curl -sS -X POST http://$INGEST_ADDR/v1/events -H $(q "Authorization: Bearer $ingest_token") -H 'Content-Type: application/json' --data @$(q "$seed")
Stop with Ctrl-C.
EOT

wait -n "${pids[@]}"
echo "make run: a process exited; stopping the others" >&2
