#!/usr/bin/env bash
# demo.sh: runs the system on its embedded defaults on this machine and walks through it.
#   tools/demo.sh        start, walk through, stop everything it started
#   tools/demo.sh up     start and leave running (state in .stack/); `tools/demo.sh down` stops
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export BIN=${BIN:-$top/bin}
mode=${1:-run}
dir=$top/.stack

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$mode" = down ]; then
	tools/stack.sh stop "$dir"
	echo "demo: stopped"
	exit 0
fi

tools/stack.sh stop "$dir" 2>/dev/null || true
rm -rf "$dir"
[ "$mode" = up ] || trap 'tools/stack.sh stop "$dir"; rm -rf "$dir"' EXIT

say "starting PostgreSQL, tmprov-devkafka and tmsim on free loopback ports"
tools/stack.sh start "$dir"
# shellcheck disable=SC1091
. "$dir/env"
echo "PostgreSQL  $TMPROV_DATABASE_URL"
echo "Kafka       $TMPROV_KAFKA_BROKERS"
echo "TM (tmsim)  $TMPROV_TM_URL"

say "applying the database migrations"
"$BIN/tmprov" migrate
"$BIN/tmprov" migrate --status

say "a TurboMeeting create_account call, answered by tmsim"
curl -fsS "$TMPROV_TM_URL/as/wapi/service/create_account?service_company_uid=$TMPROV_PARTNER_ID&company_name=Acme&email=ops%40acme.example&number_of_meeting_room=2&number_of_participant=25"
echo
say "what tmsim received"
curl -fsS "$TMPROV_TM_URL/_sim/stats"
echo

if [ "$mode" = up ]; then
	echo
	echo "demo: running; state in $dir; '. $dir/env' to use it; 'make down' to stop"
else
	say "stopping everything the demo started"
fi
