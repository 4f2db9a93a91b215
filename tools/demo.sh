#!/usr/bin/env bash
# demo.sh: runs the whole system on its embedded defaults on this machine and walks through it:
# a private PostgreSQL, tmprov-devkafka, tmsim (standing in for TurboMeeting), one tmprov-worker
# and tmprov-callback; imports examples/customers.csv and examples/meetings.jsonl, waits for the
# outcomes, then logs in as TurboMeeting would and prints the meeting list it gets.
#   tools/demo.sh        walk through, then stop everything it started
#   tools/demo.sh up     walk through and leave it running (`tools/demo.sh down` stops it)
#   tools/demo.sh down   stop what `up` left running
# State goes to TMPROV_DEMO_DIR (default .stack/ here); programs come from BIN (default bin/).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export BIN=${BIN:-$top/bin}
mode=${1:-run}
dir=${TMPROV_DEMO_DIR:-$top/.stack}
case $mode in run | up | down) ;; *) echo "usage: demo.sh [up|down]" >&2; exit 2 ;; esac

say() { printf '\n== %s\n' "$*"; }

stop_all() {
	tools/stack.sh stop "$dir" || true
	rm -rf "$dir"
}

if [ "$mode" = down ]; then
	stop_all
	echo "demo: stopped"
	exit 0
fi

tools/install-deps.sh demo
# shellcheck source=tools/need.sh
. tools/need.sh
python=$(need python3)
curl=$(need curl)
stop_all
keep=no
# Whatever happens, nothing is left running unless `up` got to its end.
trap '[ "$keep" = yes ] || stop_all' EXIT

free_port() {
	"$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # wait_http URL SECONDS
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		"$curl" -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: $1 did not answer within $2 s" >&2
	return 1
}

say "starting PostgreSQL, tmprov-devkafka and tmsim on free loopback ports"
tools/stack.sh start "$dir"
# shellcheck disable=SC1091
. "$dir/env"
echo "PostgreSQL  $(sed -n 's/^export TMPROV_DATABASE_URL=//p' "$dir/env")"
echo "Kafka       $TMPROV_KAFKA_BROKERS"
echo "TM (tmsim)  $TMPROV_TM_URL"

say "applying the database migrations"
"$BIN/tmprov" migrate

say "starting tmprov-worker and tmprov-callback"
cb_port=$(free_port)
worker_admin=$(free_port)
# The worker's own settings in a file, to show --config; the rest comes from the environment.
cat >"$dir/worker.conf" <<EOF
TMPROV_ADMIN_LISTEN=127.0.0.1:$worker_admin
TMPROV_PUBLIC_URL=http://127.0.0.1:$cb_port
EOF
"$BIN/tmprov-worker" --config "$dir/worker.conf" >"$dir/worker.log" 2>&1 &
echo $! >"$dir/worker.pid"
TMPROV_PUBLIC_URL=http://127.0.0.1:$cb_port TMPROV_ADMIN_LISTEN=127.0.0.1:0 \
	"$BIN/tmprov-callback" --listen "127.0.0.1:$cb_port" --port-file "$dir/callback.port" \
	--admin-port-file "$dir/callback.admin_port" >"$dir/callback.log" 2>&1 &
echo $! >"$dir/callback.pid"
echo "tmprov-worker    pid $(cat "$dir/worker.pid"), admin http://127.0.0.1:$worker_admin"
wait_http "http://127.0.0.1:$worker_admin/readyz" 30 || { tail "$dir/worker.log" >&2; exit 1; }
for ((i = 0; i < 300; i++)); do [ -s "$dir/callback.admin_port" ] && break; sleep 0.1; done
[ -s "$dir/callback.admin_port" ] || { echo "demo: tmprov-callback did not start" >&2; tail "$dir/callback.log" >&2; exit 1; }
wait_http "http://127.0.0.1:$(cat "$dir/callback.admin_port")/readyz" 30
echo "tmprov-callback  pid $(cat "$dir/callback.pid"), http://127.0.0.1:$cb_port, admin http://127.0.0.1:$(cat "$dir/callback.admin_port")"

say "importing examples/customers.csv (account.create + user.upsert per row)"
"$BIN/tmprov" import --wait --timeout 60s examples/customers.csv

say "scheduling the meetings of examples/meetings.jsonl"
"$BIN/tmprov" send --wait --timeout 60s examples/meetings.jsonl

say "what the database knows of customer acme"
"$BIN/tmprov" status --subject acme

say "TurboMeeting logs ann@acme.example in (spec section 6; the password as sha256-hex)"
credential=$(printf %s 'correct horse battery' | sha256sum | cut -d' ' -f1)
login=$("$curl" -fsS --get --data-urlencode email=ann@acme.example \
	--data-urlencode "password=$credential" \
	--data-urlencode "service_company_uid=$TMPROV_PARTNER_ID" \
	"http://127.0.0.1:$cb_port/tm/auth")
echo "$login"
url=$(printf %s "$login" | tr -d '\n' |
	sed -n 's:.*<__QueryScheduledMeetingURL__>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</__QueryScheduledMeetingURL__>.*:\1:p')
[ -n "$url" ] || { echo "demo: the login answer has no meeting-list URL" >&2; exit 1; }

say "TurboMeeting asks for ann's meetings (spec section 11): $url"
"$curl" -fsS "$url"
echo

if [ "$mode" = up ]; then
	keep=yes
	echo
	echo "demo: running; state in $dir"
	echo "      . $dir/env; bin/tmprov events     # the outcome events so far"
	echo "      make down                          # stops everything"
else
	say "stopping everything the demo started"
fi
