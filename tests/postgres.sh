# Sourced by ./test (and usable by hand: `source tests/postgres.sh; start_test_postgres`): a throwaway PostgreSQL
# cluster owned by the postgres user, on a free loopback port. Exports KINEMA_TEST_POSTGRES, a connection string to
# its maintenance database; suites create databases of their own in it.

start_test_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$bin" ] || { echo "test: PostgreSQL is not installed" >&2; return 1; }
  PG_TEST_DIR=$(mktemp -d /tmp/kinema-pg.XXXXXX)
  chmod 755 "$PG_TEST_DIR"
  local runas=()
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_TEST_DIR"; runas=(runuser -u postgres --); fi
  PG_TEST_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${runas[@]}" "$bin/initdb" -D "$PG_TEST_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_TEST_DIR/initdb.log" 2>&1 \
    || { echo "test: initdb failed:" >&2; cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
  # fsync stays on: the crash tests rely on what PostgreSQL says it committed. max_connections covers several nodes.
  "${runas[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/log" -w \
    -o "-p $PG_TEST_PORT -c listen_addresses=127.0.0.1 -k $PG_TEST_DIR -c max_connections=400 -c shared_buffers=256MB" start >/dev/null \
    || { echo "test: PostgreSQL did not start:" >&2; cat "$PG_TEST_DIR/log" >&2; return 1; }
  PG_TEST_BIN=$bin
  export KINEMA_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_TEST_PORT;Username=postgres;Database=postgres"
  echo "test: PostgreSQL on 127.0.0.1:$PG_TEST_PORT" >&2
}

stop_test_postgres() {
  [ -n "${PG_TEST_DIR:-}" ] || return 0
  local runas=()
  [ "$(id -u)" = 0 ] && runas=(runuser -u postgres --)
  "${runas[@]}" "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$PG_TEST_DIR"
  PG_TEST_DIR=
}
