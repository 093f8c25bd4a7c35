#!/usr/bin/env bash
# A local chatwire cluster without Docker: three `chatwire serve` nodes on this machine's
# Postgres and Redis, behind nginx (Debian's package, installed when missing) on 127.0.0.1:8088
# with WebSocket proxying. Stops exactly what it started (the pids in its run folder).
#
#   deploy/local/run.sh up              build if needed, migrate, start 3 nodes and nginx
#   deploy/local/run.sh down            stop them
#   deploy/local/run.sh status          what runs, and each node's readiness
#   deploy/local/run.sh restart-node N  SIGTERM node N (it drains), wait for it, start it again
#
# Settings (environment): DATABASE_URL (default postgres://postgres@127.0.0.1:5432/chatwire_local,
# created when missing), REDIS_URL (default redis://127.0.0.1:6379), CHATWIRE_JWT_SECRET (default:
# a random one kept in the run folder), CHATWIRE_REDIS_PREFIX, and, for running several at once,
# CHATWIRE_LOCAL_PORT (8088), CHATWIRE_LOCAL_NODE_PORT (18181: nodes on it and the next two),
# CHATWIRE_LOCAL_RUN_DIR (deploy/local/run), CHATWIRE_BIN (target/release/chatwire).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run=${CHATWIRE_LOCAL_RUN_DIR:-$here/run}
lb_port=${CHATWIRE_LOCAL_PORT:-8088}
node_port=${CHATWIRE_LOCAL_NODE_PORT:-18181}
bin=${CHATWIRE_BIN:-$root/target/release/chatwire}
nodes=3

say() { printf '%s\n' "$*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

settings() {
  mkdir -p "$run"
  export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/chatwire_local}
  export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
  if [ -z "${CHATWIRE_JWT_SECRET:-}" ]; then
    [ -s "$run/jwt_secret" ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$run/jwt_secret"
    CHATWIRE_JWT_SECRET=$(cat "$run/jwt_secret")
  fi
  export CHATWIRE_JWT_SECRET CHATWIRE_ENV=production CHATWIRE_MIGRATE_ON_START=false
  export CHATWIRE_LOG_FORMAT=${CHATWIRE_LOG_FORMAT:-json}
}

ensure_nginx() {
  command -v nginx >/dev/null 2>&1 && return
  say "installing nginx (Debian's package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  }
}

ensure_binary() {
  [ -x "$bin" ] && return
  say "building $bin"
  (cd "$root" && cargo build --release --quiet --bin chatwire)
}

ensure_database() {
  local name=${DATABASE_URL##*/}
  name=${name%%\?*}
  local admin=${DATABASE_URL%/*}/postgres
  if ! psql "$admin" -Atqc "select 1 from pg_database where datname = '$name'" 2>/dev/null | grep -q 1; then
    psql "$admin" -qc "CREATE DATABASE \"$name\"" >/dev/null
  fi
}

start_node() {
  local n=$1 port=$((node_port + $1 - 1))
  if alive "$run/node-$n.pid"; then
    say "node $n already runs (pid $(cat "$run/node-$n.pid"))"
    return
  fi
  CHATWIRE_BIND=127.0.0.1:$port HOSTNAME=local-$n "$bin" serve >>"$run/node-$n.log" 2>&1 &
  echo $! >"$run/node-$n.pid"
}

wait_ready() {
  local url=$1
  for _ in $(seq 1 150); do
    curl -sf -o /dev/null "$url" && return 0
    sleep 0.2
  done
  say "not ready: $url"
  return 1
}

write_nginx_conf() {
  mkdir -p "$run/nginx"
  {
    echo "worker_processes 1;"
    echo "pid $run/nginx.pid;"
    echo "error_log $run/nginx-error.log warn;"
    # As root, nginx's workers would switch to a user that may lack the run folder.
    [ "$(id -u)" = 0 ] && echo "user root;"
    echo "events { worker_connections 4096; }"
    echo "http {"
    # The path without the query string: a socket's token travels in it.
    echo "  log_format chatwire '\$remote_addr [\$time_local] \"\$request_method \$uri\" \$status \$body_bytes_sent \$request_time \$upstream_addr';"
    echo "  access_log $run/nginx-access.log chatwire;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $run/nginx/$t;"; done
    echo "  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }"
    echo "  upstream chatwire {"
    for n in $(seq 1 $nodes); do
      # Never marked down: a draining node's 503 (or a dead one's refusal) sends that one
      # request to the next node, and the node is tried afresh on the next request. Marking it
      # down for a while, with three nodes restarting in turn, left none to try.
      echo "    server 127.0.0.1:$((node_port + n - 1)) max_fails=0;"
    done
    echo "    keepalive 32;"
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$lb_port;"
    echo "    location / {"
    echo "      proxy_pass http://chatwire;"
    echo "      proxy_http_version 1.1;"
    echo "      proxy_set_header Upgrade \$http_upgrade;"
    echo "      proxy_set_header Connection \$connection_upgrade;"
    echo "      proxy_set_header Host \$host;"
    echo "      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
    # A draining or dead node answers 503 or not at all: try the next one (requests are
    # idempotent or carry an idempotency key; a socket handshake is a GET).
    echo "      proxy_next_upstream error timeout http_502 http_503;"
    echo "      proxy_connect_timeout 2s;"
    # Sockets stay open for hours; chatwire pings every 30 s.
    echo "      proxy_read_timeout 3600s;"
    echo "      proxy_send_timeout 3600s;"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$run/nginx.conf"
}

up() {
  settings
  ensure_nginx
  ensure_binary
  ensure_database
  "$bin" migrate >>"$run/migrate.log" 2>&1 || { cat "$run/migrate.log" >&2; exit 1; }
  for n in $(seq 1 $nodes); do start_node "$n"; done
  for n in $(seq 1 $nodes); do
    wait_ready "http://127.0.0.1:$((node_port + n - 1))/readyz" || { tail -n 20 "$run/node-$n.log" >&2; exit 1; }
  done
  write_nginx_conf
  if ! alive "$run/nginx.pid"; then
    nginx -c "$run/nginx.conf" -p "$run" -e "$run/nginx-error.log"
  fi
  wait_ready "http://127.0.0.1:$lb_port/readyz"
  say "chatwire: 3 nodes behind nginx on http://127.0.0.1:$lb_port (ws://127.0.0.1:$lb_port/ws/v1?token=...)"
  if [ -s "$run/jwt_secret" ]; then
    say "a token: CHATWIRE_JWT_SECRET=\$(cat $run/jwt_secret) $bin token --user-id 1 --username alice"
  else
    say "a token: $bin token --user-id 1 --username alice (with your CHATWIRE_JWT_SECRET)"
  fi
}

stop_pid() {
  local file=$1
  if alive "$file"; then
    local pid
    pid=$(cat "$file")
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$file"
}

down() {
  if alive "$run/nginx.pid"; then
    nginx -c "$run/nginx.conf" -p "$run" -e "$run/nginx-error.log" -s quit || true
    for _ in $(seq 1 50); do alive "$run/nginx.pid" || break; sleep 0.1; done
  fi
  rm -f "$run/nginx.pid"
  for n in $(seq 1 $nodes); do stop_pid "$run/node-$n.pid"; done
  say "chatwire: stopped"
}

status() {
  for n in $(seq 1 $nodes); do
    local port=$((node_port + n - 1)) state=stopped
    alive "$run/node-$n.pid" && state="pid $(cat "$run/node-$n.pid"), $(curl -s -o /dev/null -w 'readyz %{http_code}' "http://127.0.0.1:$port/readyz")"
    echo "node $n (127.0.0.1:$port): $state"
  done
  if alive "$run/nginx.pid"; then echo "nginx (127.0.0.1:$lb_port): pid $(cat "$run/nginx.pid")"; else echo "nginx: stopped"; fi
}

restart_node() {
  local n=$1
  settings
  stop_pid "$run/node-$n.pid"
  start_node "$n"
  wait_ready "http://127.0.0.1:$((node_port + n - 1))/readyz"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  restart-node) restart_node "${2:?restart-node needs a node number (1-3)}" ;;
  *) say "usage: $0 up | down | status | restart-node N"; exit 2 ;;
esac
