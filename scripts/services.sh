#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and memcached answer before the tests run.
# Order of attempts: already running -> docker compose (when an engine runs) -> memcached
# installed and started here (Debian/Ubuntu, as root) -> a message saying what is missing.
set -u

PGHOST=${PGHOST:-127.0.0.1}; PGPORT=${PGPORT:-5432}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}; REDIS_PORT=${REDIS_PORT:-6379}
MEMCACHED_HOST=${MEMCACHED_HOST:-127.0.0.1}; MEMCACHED_PORT=${MEMCACHED_PORT:-11211}

up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_up() { for _ in $(seq 1 50); do up "$1" "$2" && return 0; sleep 0.2; done; return 1; }

missing=()
up "$PGHOST" "$PGPORT" || missing+=(postgres)
up "$REDIS_HOST" "$REDIS_PORT" || missing+=(redis)
up "$MEMCACHED_HOST" "$MEMCACHED_PORT" || missing+=(memcached)
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "services: starting ${missing[*]} with docker compose"
  docker compose up -d "${missing[@]}"
else
  for service in "${missing[@]}"; do
    if [ "$service" = memcached ]; then
      if ! command -v memcached >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "services: installing memcached (Debian package)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached) >/dev/null
      fi
      if command -v memcached >/dev/null 2>&1; then
        echo "services: starting memcached on $MEMCACHED_HOST:$MEMCACHED_PORT"
        memcached -d -u "$(id -un)" -l "$MEMCACHED_HOST" -p "$MEMCACHED_PORT" -m 64
      fi
    fi
  done
fi

status=0
wait_up "$PGHOST" "$PGPORT" || { echo "services: PostgreSQL is not reachable at $PGHOST:$PGPORT (start it, or set PGHOST/PGPORT)"; status=1; }
wait_up "$REDIS_HOST" "$REDIS_PORT" || { echo "services: Redis is not reachable at $REDIS_HOST:$REDIS_PORT (start it, or set REDIS_HOST/REDIS_PORT and REDIS_URL)"; status=1; }
wait_up "$MEMCACHED_HOST" "$MEMCACHED_PORT" || { echo "services: memcached is not reachable at $MEMCACHED_HOST:$MEMCACHED_PORT (apt-get install memcached, or set MEMCACHED_HOST/MEMCACHED_PORT)"; status=1; }
exit $status
