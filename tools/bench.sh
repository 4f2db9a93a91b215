#!/usr/bin/env bash
# bench.sh: `make bench` — starts a private stack (PostgreSQL, tmprov-devkafka, tmsim), runs every
# benchmark case in rounds with `tmprov bench`, writes the figures as JSON and prints one table
# of medians with min and max (tools/bench/report.py assembles both).
#   BENCH_SMOKE=1    every case tiny, one round (the whole run in well under 30 s): a smoke test
#   BENCH_ROUNDS=N   rounds (default 5; smoke 1); rounds run every case in turn, so that a slow
#                    patch of a busy machine spreads over all cases instead of hitting one
#   BENCH_RESULTS=F  the JSON file (default bench/results.json)
#   BENCH_ONLY=a,b   only the cases whose names start with one of these
# Exits 0 when every case completed in every round, 1 otherwise.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$top/$BIN ;; esac
export BIN # stack.sh starts the programs of the same build

smoke=${BENCH_SMOKE:-0}
[ "$smoke" = 0 ] || smoke=1
results=${BENCH_RESULTS:-$top/bench/results.json}
case $results in /*) ;; *) results=$top/$results ;; esac
if [ "$smoke" = 1 ]; then
	rounds=${BENCH_ROUNDS:-1} dur=300ms hash_dur=300ms pg_dur=1s case_timeout=60
else
	rounds=${BENCH_ROUNDS:-5} dur=3s hash_dur=3s pg_dur=5s case_timeout=300
fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_ROUNDS must be a positive number" >&2; exit 2; }

[ "$smoke" = 1 ] || tools/install-deps.sh bench
for p in tmprov tmsim tmprov-devkafka; do
	[ -x "$BIN/$p" ] || { echo "bench: $BIN/$p is missing (make all)" >&2; exit 1; }
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d /tmp/tmprov-bench.XXXXXX)
chmod 755 "$work" # PostgreSQL runs as the postgres user below it
cleanup() {
	tools/stack.sh stop "$work/stack" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The bench never reads tmsim's call log: keep it small, or a few million calls would hold
# hundreds of MiB in tmsim on the machine being measured.
export TMSIM_CALL_LOG_MAX=10000
if ! tools/stack.sh start "$work/stack" pg kafka tmsim; then
	echo "bench: could not start the stack" >&2
	for f in "$work"/stack/*.log "$work"/stack/pg/*.log; do [ -f "$f" ] && tail -n 20 "$f" >&2; done
	exit 1
fi
# shellcheck disable=SC1091
source "$work/stack/env"
pgbench=$TMPROV_PG_BIN/pgbench
script=$top/tools/bench/pgbench-command.sql

# The cases: name, a note for the table, then the `tmprov bench` arguments. The worker and
# callback scenarios of issue 6 join here, as more bench_case lines.
cases=$work/cases.tsv ratios=$work/ratios.tsv
: >"$cases"
: >"$ratios"
bench_case() { # bench_case NAME NOTE ARGS...
	local name=$1 note=$2
	shift 2
	if [ -n "${BENCH_ONLY:-}" ]; then
		local keep=0 p
		for p in ${BENCH_ONLY//,/ }; do [[ $name == "$p"* ]] && keep=1; done
		[ $keep = 1 ] || return 0
	fi
	printf '%s\t%s\t%s\n' "$name" "$note" "$*" >>"$cases"
}
# A ratio of two figures of one round (CASE:FIGURE), or of a figure to a number; median, min
# and max over the rounds. TARGET is the least acceptable ratio, or - for none.
bench_ratio() { # bench_ratio NAME NUMERATOR DENOMINATOR TARGET NOTE
	printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ratios"
}

bench_case tmsim-capacity/c1 "one call at a time: a Nagle/delayed-ACK stall would show as p50 ~40 ms" \
	tmsim-capacity --concurrency 1 --duration $dur
bench_case tmsim-capacity/c64 "query_account kept alive, curl multi: tmsim alone" \
	tmsim-capacity --concurrency 64 --duration $dur
bench_case tmsim-capacity/c256 "the same at the worker's high concurrency" \
	tmsim-capacity --concurrency 256 --duration $dur
bench_case tm-client/query "8 threads, query_account, connection reused (idempotent)" \
	tm-client --mode query --threads 8 --duration $dur
bench_case tm-client/create "8 threads, create_account, fresh connection each (exactly-once)" \
	tm-client --mode create --threads 8 --duration $dur
bench_case hash/1-thread "argon2id verifiers at TMPROV_ARGON2_OPSLIMIT/MEMLIMIT, 1 thread" \
	hash --mode new --threads 1 --duration $hash_dur
bench_case hash/all-cpus "the same on every online CPU" \
	hash --mode new --threads 0 --duration $hash_dur
bench_case pg-reference/c8 "pgbench, one command's SQL per transaction (written from migrations/001_init.sql; to be replaced by the worker's own statements when they land)" \
	pg-reference --connections 8 --duration $pg_dur --pgbench "$pgbench" --script "$script"
bench_case pg-reference/c64 "the same with 64 connections" \
	pg-reference --connections 64 --duration $pg_dur --pgbench "$pgbench" --script "$script"

bench_ratio "tmsim headroom over the database" tmsim-capacity/c64:rate pg-reference/c8:rate - \
	"tmsim must sustain several times what the worker can reach"
bench_ratio "exactly-once cost" tm-client/create:rate tm-client/query:rate - \
	"calls/s on a fresh connection each / on a kept-alive one"
bench_ratio "hash scaling" hash/all-cpus:rate hash/1-thread:rate - \
	"all online CPUs / one thread"

mkdir -p "$work/out"
ncases=$(wc -l <"$cases")
for ((r = 1; r <= rounds; r++)); do
	i=0
	while IFS=$'\t' read -r name _ args; do
		i=$((i + 1))
		# Every case starts on an empty tmsim (accounts, call log, faults).
		curl -fsS -o /dev/null "$TMPROV_TM_URL/_sim/reset" || echo "bench: tmsim reset failed" >&2
		# shellcheck disable=SC2086 # args are words without blanks, split on purpose
		if timeout -k 5 $case_timeout "$BIN/tmprov" bench $args \
			>"$work/out/$i.$r.json" 2>"$work/out/$i.$r.err" </dev/null; then
			status=ok
		else
			status="failed ($?)"
		fi
		echo "$status" >"$work/out/$i.$r.status"
		printf 'bench: round %d/%d, case %d/%d %-22s %s\n' "$r" "$rounds" "$i" "$ncases" \
			"$name" "$status" >&2
	done <"$cases"
done

mkdir -p "$(dirname "$results")"
/usr/bin/python3 tools/bench/report.py --cases "$cases" --ratios "$ratios" --out "$work/out" \
	--rounds "$rounds" --smoke "$smoke" --load-before "$load_before" \
	--version "$("$BIN/tmprov" --version)" --results "$results"
