#!/usr/bin/env bash
# stack.sh: starts and stops the local stack that tests and the demo run on — a private
# PostgreSQL cluster, tmprov-devkafka and tmsim — on free loopback ports, all state under DIR.
#   tools/stack.sh start DIR [pg|kafka|tmsim ...]   writes DIR/env (shell exports) when ready
#   tools/stack.sh stop DIR                         stops whatever DIR/*.pid and the cluster hold
set -euo pipefail

cmd=${1:?usage: stack.sh start|stop DIR [services]}
dir=${2:?usage: stack.sh start|stop DIR [services]}
shift 2
services=${*:-pg kafka tmsim}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$top/bin}
case $bin in /*) ;; *) bin=$top/$bin ;; esac
# shellcheck source=tools/need.sh
. "$top/tools/need.sh"

free_port() {
	local python
	python=$(need python3) || exit 1
	"$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root: run it as the postgres system user when we are root.
as_pg() {
	local runuser
	if [ "$(id -u)" = 0 ]; then
		runuser=$(need runuser) || exit 1
		"$runuser" -u postgres -- "$@"
	else
		"$@"
	fi
}

wait_file() { # wait_file FILE SECONDS
	local i
	for ((i = 0; i < $2 * 10; i++)); do [ -s "$1" ] && return 0; sleep 0.1; done
	echo "stack: timed out waiting for $1" >&2
	return 1
}

start_pg() {
	local initdb pg_ctl createdb port
	initdb=$(need initdb)
	pg_ctl=$(need pg_ctl)
	createdb=$(need createdb)
	port=$(free_port)
	mkdir -p "$dir/pg"
	[ "$(id -u)" = 0 ] && chown postgres "$dir/pg"
	as_pg "$initdb" -D "$dir/pg/data" -U postgres --auth=trust -E UTF8 --no-sync \
		>"$dir/pg/initdb.log" 2>&1 || { cat "$dir/pg/initdb.log" >&2; exit 1; }
	as_pg "$pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 \
		-o "-h 127.0.0.1 -p $port -k $dir/pg -c fsync=off -c max_connections=300" start >/dev/null
	as_pg "$createdb" -h 127.0.0.1 -p "$port" -U postgres tmprov
	{
		echo "export TMPROV_PG_PORT=$port"
		echo "export TMPROV_PG_DATA=$dir/pg/data"
		echo "export TMPROV_PG_BIN=$(dirname "$pg_ctl")"
		echo "export TMPROV_DATABASE_URL=postgresql://postgres@127.0.0.1:$port/tmprov"
	} >>"$dir/env"
}

start_kafka() {
	"$bin/tmprov-devkafka" --partitions "${TMPROV_DEVKAFKA_PARTITIONS:-4}" \
		--bootstrap-file "$dir/kafka.bootstrap" >"$dir/kafka.log" 2>&1 &
	echo $! >"$dir/kafka.pid"
	wait_file "$dir/kafka.bootstrap" 30
	echo "export TMPROV_KAFKA_BROKERS=$(cat "$dir/kafka.bootstrap")" >>"$dir/env"
	# librdkafka's mock cluster completes a rebalance only after the session timeout: keep it
	# short so that a worker joining or leaving a group takes seconds, not 45 s.
	echo "export TMPROV_KAFKA_PROPS=session.timeout.ms=6000,heartbeat.interval.ms=1000" >>"$dir/env"
}

start_tmsim() {
	"$bin/tmsim" --listen 127.0.0.1:0 --port-file "$dir/tmsim.port" \
		>"$dir/tmsim.log" 2>&1 &
	echo $! >"$dir/tmsim.pid"
	wait_file "$dir/tmsim.port" 30
	echo "export TMPROV_TM_URL=http://127.0.0.1:$(cat "$dir/tmsim.port")" >>"$dir/env"
}

# Whether pid has ended: gone, or a zombie its (possibly slow) reaper has not collected yet.
ended() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "${st%% *}" = Z ]
}

stop_all() {
	local f pid pg_ctl
	for f in "$dir"/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do ended "$pid" && break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$f"
	done
	if [ -f "$dir/pg/data/postmaster.pid" ]; then
		pg_ctl=$(need pg_ctl)
		as_pg "$pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
}

case $cmd in
start)
	mkdir -p "$dir"
	chmod 755 "$dir" # the postgres user must reach DIR/pg
	: >"$dir/env"
	export TMPROV_PARTNER_ID=${TMPROV_PARTNER_ID:-partner-dev}
	echo "export TMPROV_PARTNER_ID=$TMPROV_PARTNER_ID" >>"$dir/env"
	for s in $services; do "start_$s"; done
	;;
stop) stop_all ;;
*) echo "usage: stack.sh start|stop DIR [services]" >&2; exit 2 ;;
esac
