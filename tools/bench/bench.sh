#!/usr/bin/env bash
# bench.sh: `make bench` — starts a private stack (PostgreSQL, tmsim; the worker scenarios start
# their own tmprov-devkafka, tmprov-worker and tmprov-callback per round), runs every benchmark
# case in rounds with `tmprov-bench`, writes the figures as JSON and prints one table of medians
# with min and max and the ratios to their references with their targets (tools/bench/report.py
# assembles both). A missed target is reported, never a failure.
#   BENCH_SMOKE=1    every scenario tiny, one round (about 50 s): a smoke test
#   BENCH_ROUNDS=N   rounds (default 3; smoke 1); rounds run every case in turn, so that a slow
#                    patch of a busy machine spreads over all cases instead of hitting one; a
#                    heavy case runs in the first of them only (its ROUNDS below)
#   BENCH_RESULTS=F  the JSON file (default bench/results.json)
#   BENCH_ONLY=a,b   only the cases whose names start with one of these
# Exits 0 when every case completed in every round, 1 otherwise.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$top/$BIN ;; esac
export BIN # stack.sh starts the programs of the same build

smoke=${BENCH_SMOKE:-0}
[ "$smoke" = 0 ] || smoke=1
results=${BENCH_RESULTS:-$top/bench/results.json}
case $results in /*) ;; *) results=$top/$results ;; esac
# The sizes of the cases: full, or tiny for the smoke run. Heavy cases run fewer rounds
# (bench_case's MAXROUNDS) so that the whole run stays within about eight minutes.
if [ "$smoke" = 1 ]; then
	rounds=${BENCH_ROUNDS:-1} dur=300ms hash_dur=300ms pg_dur=1s wrk_dur=1s case_timeout=60
	mixed_n=300 mixed_s=60 pw_n=12 tm_n=240 tm256_n=240 tm1024_n=240 lat_rate=200 lat_n=300 scale_n=240
	pg_n=300 pg_s=60 cb_users=50 imp_n=300
else
	rounds=${BENCH_ROUNDS:-3} dur=2s hash_dur=4s pg_dur=4s wrk_dur=4s case_timeout=300
	mixed_n=50000 mixed_s=5000 pw_n=5000 tm_n=14000 tm256_n=15000 tm1024_n=15000 lat_rate=500 lat_n=6000
	scale_n=8000 pg_n=50000 pg_s=5000 cb_users=1000 imp_n=2000
fi
# The group rate (TMPROV_TM_RATE) of the bulk-import case (8).
imp_rate=500
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_ROUNDS must be a positive number" >&2; exit 2; }

[ "$smoke" = 1 ] || tools/install-deps.sh bench
for p in tmprov-bench tmsim tmprov-devkafka tmprov-worker tmprov-callback; do
	[ -x "$BIN/$p" ] || { echo "bench: $BIN/$p is missing (make all)" >&2; exit 1; }
done
# shellcheck source=tools/need.sh
. tools/need.sh
wrk=$(need wrk)
pgbench=$(need pgbench)
curl=$(need curl)
python=$(need python3)

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
# hundreds of MiB in tmsim on the machine being measured. The worker scenarios start their own
# tmprov-devkafka per round (a round's topics are its own), so the stack has none.
export TMSIM_CALL_LOG_MAX=10000
# A worker at concurrency 1024 holds up to 1,024 calls and its kept-alive connections open at
# once: over tmsim's default limit of 1,000 connections (which the tests keep).
export TMSIM_MAX_CONNECTIONS=4096
if ! tools/stack.sh start "$work/stack" pg tmsim; then
	echo "bench: could not start the stack" >&2
	for f in "$work"/stack/*.log "$work"/stack/pg/*.log; do [ -f "$f" ] && tail -n 20 "$f" >&2; done
	exit 1
fi
# shellcheck disable=SC1091
source "$work/stack/env"
# What the programs run with by default: the worker's TMPROV_DB_POOL and the callback's
# TMPROV_CALLBACK_THREADS (one PostgreSQL connection each), the references' connection counts.
db_pool=8 cb_threads=4

# The cases: name, the most rounds it runs (0: all), whether the smoke run has it, a note for
# the table, then the `tmprov-bench` arguments.
cases=$work/cases.tsv ratios=$work/ratios.tsv
: >"$cases"
: >"$ratios"
bench_case() { # bench_case NAME MAXROUNDS SMOKE(yes|no) NOTE ARGS...
	local name=$1 max=$2 insmoke=$3 note=$4
	shift 4
	[ "$smoke" = 0 ] || [ "$insmoke" = yes ] || return 0
	if [ -n "${BENCH_ONLY:-}" ]; then
		local keep=0 p
		for p in ${BENCH_ONLY//,/ }; do [[ $name == "$p"* ]] && keep=1; done
		[ $keep = 1 ] || return 0
	fi
	printf '%s\t%s\t%s\t%s\n' "$name" "$max" "$note" "$*" >>"$cases"
}
# A ratio of two figures of one round (CASE:FIGURE), or of a figure to a number; median, min
# and max over the rounds both cases ran. TARGET: the least acceptable ratio, "<=N" for the
# most, or - for none.
bench_ratio() { # bench_ratio NAME NUMERATOR DENOMINATOR TARGET NOTE
	printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ratios"
}

# Each reference runs right before the case held against it, so that the two share the moment's
# load on a busy machine (ratios pair the rounds).
bench_case tmsim-capacity/c1 0 yes "one call at a time: a Nagle/delayed-ACK stall would show as p50 ~40 ms" \
	tmsim-capacity --concurrency 1 --duration $dur
bench_case tmsim-capacity/c64 0 yes "query_account kept alive, curl multi: tmsim alone" \
	tmsim-capacity --concurrency 64 --duration $dur
bench_case tmsim-capacity/c256 0 no "the same at the worker's high concurrency" \
	tmsim-capacity --concurrency 256 --duration $dur
bench_case tm-client/query 0 yes "8 threads, query_account, connection reused (idempotent)" \
	tm-client --mode query --threads 8 --duration $dur
bench_case tm-client/create 0 yes "8 threads, create_account, fresh connection each (exactly-once)" \
	tm-client --mode create --threads 8 --duration $dur
bench_case tm-client/loop-query 0 yes "the same 8 queries in flight through one common/tm_loop (one thread, curl multi)" \
	tm-client --mode loop-query --threads 8 --duration $dur
bench_case tm-client/loop-create 0 yes "the same 8 creates in flight through one common/tm_loop" \
	tm-client --mode loop-create --threads 8 --duration $dur
bench_case hash/1-thread 0 yes "argon2id verifiers made at TMPROV_ARGON2_OPSLIMIT/MEMLIMIT, 1 thread" \
	hash --mode new --threads 1 --duration $hash_dur
bench_case pg-reference/worker 0 yes "(1) pgbench -M prepared, $db_pool clients (TMPROV_DB_POOL): per transaction the statements tmprov-worker runs for one command (generated from workers/worker/sql.c), scripts weighed as the mixed load" \
	pg-reference --mode worker --connections $db_pool --duration $pg_dur --commands $pg_n \
	--subjects $pg_s --pgbench "$pgbench"
bench_case worker/mixed 1 yes "(2) $mixed_n mixed commands over $mixed_s subjects pre-loaded, TM instant; clock from the worker's start" \
	worker --mode mixed --commands $mixed_n --subjects $mixed_s
bench_case hash/all-cpus 0 yes "common/password's on every online CPU (memory kept between hashes where AVX2 runs): the ceiling of password-setting commands" \
	hash --mode new --threads 0 --duration $hash_dur
bench_case hash/libsodium-all-cpus 0 yes "(2b) libsodium's own crypto_pwhash_str on every online CPU, the same cost: the reference, a fresh TMPROV_ARGON2_MEMLIMIT mapped each hash" \
	hash --mode libsodium --threads 0 --duration $hash_dur
bench_case worker/passwords 1 yes "(2b) $pw_n user.upsert with a password (one argon2id hash each), pre-loaded" \
	worker --mode password --commands $pw_n --subjects $pw_n
bench_case worker/tm0-c64 2 yes "(3) the same command mix and size as tm50-c64 with TM instant: the rate TM's latency is held against" \
	worker --mode tm --commands $tm_n --subjects 5000 --concurrency 64
bench_case worker/tm50-c64 2 yes "(3) $tm_n commands of one TM call each, tmsim adding 50 ms, concurrency 64" \
	worker --mode tm --commands $tm_n --subjects 5000 --tm-latency 50ms --concurrency 64
bench_case worker/tm0-c256 1 no "(3) $tm256_n commands of one TM call each, TM instant, concurrency 256" \
	worker --mode tm --commands $tm256_n --subjects 5000 --concurrency 256
bench_case worker/tm50-c256 1 no "(3, 7) the same with tmsim adding 50 ms; its peak RSS" \
	worker --mode tm --commands $tm256_n --subjects 5000 --tm-latency 50ms --concurrency 256
bench_case worker/tm50-c1024 1 yes "(3, 7) $tm1024_n commands of one TM call each, tmsim adding 50 ms, concurrency 1024; its peak RSS" \
	worker --mode tm --commands $tm1024_n --subjects 5000 --tm-latency 50ms --concurrency 1024
bench_case worker/latency 2 yes "(4) mixed commands produced at $lat_rate/s, tmsim adding 20 ms: produce time to outcome event's produce time" \
	worker --mode mixed --commands $lat_n --subjects 1000 --tm-latency 20ms --rate $lat_rate
bench_case scale/w1 1 no "(5) $scale_n commands of one TM call, tmsim 50 ms, 12 partitions: 1 worker, clock from the load (workers assigned first)" \
	worker --mode tm --commands $scale_n --subjects 5000 --tm-latency 50ms --workers 1 --prestart
bench_case scale/w2 1 yes "(5) the same with 2 workers in one group" \
	worker --mode tm --commands $scale_n --subjects 5000 --tm-latency 50ms --workers 2 --prestart
bench_case scale/w4 1 no "(5) the same with 4 workers in one group" \
	worker --mode tm --commands $scale_n --subjects 5000 --tm-latency 50ms --workers 4 --prestart
bench_case worker/import-r$imp_rate 0 yes "(8) bulk import: $imp_n account.create of new customers at TMPROV_TM_RATE=$imp_rate, tmsim adding 20 ms, 2 workers assigned first" \
	worker --mode import --commands $imp_n --subjects $imp_n --tm-latency 20ms --workers 2 \
	--tm-rate $imp_rate --prestart
bench_case pg-reference/callback 0 yes "(6) pgbench -M prepared, $cb_threads clients (TMPROV_CALLBACK_THREADS): the callback's meeting-list statement (generated from workers/callback/cbsql.c)" \
	pg-reference --mode callback --connections $cb_threads --duration $pg_dur --subjects $cb_users \
	--pgbench "$pgbench"
bench_case callback/meetings 0 yes "(6a, 7) wrk, 2 threads, 8 connections: meeting lists of $cb_users valid sessions in turn" \
	callback --mode meetings --subjects $cb_users --threads 2 --connections 8 --duration $wrk_dur --wrk "$wrk"
bench_case callback/fail 0 yes "(6b) failed logins of unknown users, throttle off (a dummy hash each)" \
	callback --mode fail --subjects $cb_users --threads 2 --connections 8 --duration $wrk_dur --wrk "$wrk"
bench_case hash/verify-all-cpus 0 yes "verifiers checked on every online CPU: the ceiling of logins" \
	hash --mode verify --threads 0 --duration $hash_dur
bench_case callback/login 0 yes "(6c) successful logins at the configured hash cost" \
	callback --mode login --subjects $cb_users --threads 2 --connections 8 --duration $wrk_dur --wrk "$wrk"

bench_ratio "worker / database (2)" worker/mixed:rate pg-reference/worker:rate 0.8 \
	"mixed commands/s from the worker's start / the same statements in pgbench"
bench_ratio "  the same, from assignment" worker/mixed:rate_assigned pg-reference/worker:rate - \
	"clock from the partitions' assignment (a new group's first join waits 3 s at the broker)"
bench_ratio "passwords / hash (2b)" worker/passwords:rate_assigned hash/libsodium-all-cpus:rate 1.0 \
	"password-setting commands/s (clock from assignment) / libsodium's argon2id hashes/s on all CPUs"
bench_ratio "  the same, / our hash" worker/passwords:rate_assigned hash/all-cpus:rate - \
	"/ common/password's hashes/s on all CPUs: what the rest of a command costs"
bench_ratio "our hash / libsodium's (2b)" hash/all-cpus:rate hash/libsodium-all-cpus:rate - \
	"hashes/s on all CPUs: memory kept between hashes against a fresh mapping each"
bench_ratio "hash kernel share, libsodium (2b)" hash/libsodium-all-cpus:cpu_sys_ms hash/libsodium-all-cpus:cpu_ms - \
	"system CPU / CPU per hash: libsodium mapping and faulting in a fresh TMPROV_ARGON2_MEMLIMIT each"
bench_ratio "hash kernel share, ours (2b)" hash/all-cpus:cpu_sys_ms hash/all-cpus:cpu_ms - \
	"the same for common/password's hash"
bench_ratio "TM 50 ms, c64 / 1280 (3)" worker/tm50-c64:rate_assigned 1280 0.95 \
	"commands/s (clock from assignment) / 64 calls in flight / 0.05 s"
bench_ratio "TM 50 ms, c256 / 5120 (3)" worker/tm50-c256:rate_assigned 5120 - \
	"commands/s (clock from assignment) / 256 / 0.05 s"
bench_ratio "TM 50 ms / TM instant, c64 (3)" worker/tm50-c64:rate_assigned worker/tm0-c64:rate_assigned - \
	"the same commands at concurrency 64 (clock from assignment): bounded by 1280/s at 50 ms, not by hiding"
bench_ratio "TM 50 ms / TM instant, c256 (3)" worker/tm50-c256:rate_assigned worker/tm0-c256:rate_assigned 0.9 \
	"the same commands at concurrency 256 (clock from assignment): how fully TM's latency is hidden"
bench_ratio "latency p99 ms (4)" worker/latency:p99_ms 1 "<=40" \
	"ms from a command's produce time to its outcome's, at $lat_rate/s, TM 20 ms"
bench_ratio "scale-out 2 / 1 workers (5)" scale/w2:rate scale/w1:rate - \
	"commands/s with 2 workers / with 1"
bench_ratio "scale-out 4 / 1 workers (5)" scale/w4:rate scale/w1:rate - \
	"commands/s with 4 workers / with 1"
bench_ratio "bulk import / TM rate (8)" worker/import-r$imp_rate:rate $imp_rate 0.9 \
	"account.create/s of the import (clock from the load) / TMPROV_TM_RATE"
bench_ratio "callback meetings / database (6a)" callback/meetings:rate pg-reference/callback:rate 0.5 \
	"meeting lists/s through HTTP / the meeting-list statement alone in pgbench"
bench_ratio "callback meetings p99 ms (6a)" callback/meetings:p99_ms 1 "<=2" \
	"wrk's p99 of the meeting list"
bench_ratio "failed logins / hash verify (6b)" callback/fail:rate hash/verify-all-cpus:rate - \
	"failed logins/s (each checks a dummy verifier) / argon2id checks/s on all CPUs"
bench_ratio "logins / hash verify (6c)" callback/login:rate hash/verify-all-cpus:rate 0.9 \
	"successful logins/s / argon2id checks/s on all CPUs"
bench_ratio "worker peak RSS MiB, c256 (7)" worker/tm50-c256:peak_rss_mib 1 "<=32" \
	"VmHWM of the worker at concurrency 256, TM 50 ms"
bench_ratio "worker peak RSS MiB, c1024 (7)" worker/tm50-c1024:peak_rss_mib 1 "<=48" \
	"VmHWM of the worker at concurrency 1024, TM 50 ms"
bench_ratio "callback peak RSS / bound (7)" callback/meetings:peak_rss_mib \
	callback/meetings:rss_bound_mib "<=1" \
	"VmHWM under 6(a) / (32 MiB + TMPROV_HASH_CONCURRENCY x TMPROV_ARGON2_MEMLIMIT)"
bench_ratio "tmsim headroom over the database" tmsim-capacity/c64:rate pg-reference/worker:rate - \
	"tmsim must sustain several times what the worker can reach"
bench_ratio "exactly-once cost" tm-client/create:rate tm-client/query:rate - \
	"calls/s on a fresh connection each / on a kept-alive one"
bench_ratio "tm_loop / threads, query" tm-client/loop-query:rate tm-client/query:rate - \
	"8 queries in flight: one tm_loop thread / 8 threads with a tm_client each"
bench_ratio "tm_loop / threads, create" tm-client/loop-create:rate tm-client/create:rate - \
	"8 creates in flight: one tm_loop thread / 8 threads with a tm_client each"
bench_ratio "hash scaling" hash/all-cpus:rate hash/1-thread:rate - \
	"all online CPUs / one thread"

mkdir -p "$work/out"
ncases=$(wc -l <"$cases")
for ((r = 1; r <= rounds; r++)); do
	i=0
	while IFS=$'\t' read -r name max _ args; do
		i=$((i + 1))
		[ "$max" = 0 ] || [ "$r" -le "$max" ] || continue
		# Every case starts on an empty tmsim (accounts, call log, faults).
		"$curl" -fsS -o /dev/null "$TMPROV_TM_URL/_sim/reset" || echo "bench: tmsim reset failed" >&2
		# shellcheck disable=SC2086 # args are words without blanks, split on purpose
		if timeout -k 5 $case_timeout "$BIN/tmprov-bench" $args \
			>"$work/out/$i.$r.json" 2>"$work/out/$i.$r.err" </dev/null; then
			status=ok
		else
			status="failed ($?)"
		fi
		echo "$status" >"$work/out/$i.$r.status"
		printf 'bench: round %d/%d, case %d/%d %-22s %s\n' "$r" "$rounds" "$i" "$ncases" \
			"$name" "$status" >&2
		# A failed case says why where the caller sees it (its stderr's end).
		[ "$status" = ok ] || tail -n 15 "$work/out/$i.$r.err" | sed 's/^/bench:   | /' >&2
	done <"$cases"
done

mkdir -p "$(dirname "$results")"
"$python" tools/bench/report.py --cases "$cases" --ratios "$ratios" --out "$work/out" \
	--rounds "$rounds" --smoke "$smoke" --load-before "$load_before" \
	--version "$("$BIN/tmprov-bench" --version)" --results "$results"
