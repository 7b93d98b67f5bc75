#!/bin/sh
# SPDX-License-Identifier: MIT
# Compare kalloc, as the process's malloc, with glibc, mimalloc, jemalloc and tcmalloc on the
# same programs, by preloading each allocator in turn.
#
#   bench/peers.sh [build dir (default: build)]
#   environment: ROUNDS=3 (rounds; medians are reported), ONLY="small larson" (a subset of
#   workloads), KALLOC_BACKENDS="tlsf slab buddy tiny", CONTENDERS="glibc mimalloc ..."
#
# Workloads: bench/workload.c (small, mixed, churn, large), bench/larson.c (two threads, server
# simulation), CPython (a few regression-test modules, PYTHONMALLOC=malloc), the sqlite3 script
# of tests/shim/sqlite.sh, and redis-benchmark against a preloaded redis-server on 127.0.0.1
# (bounded request counts). Each round runs every workload under every contender, in an order
# rotated from round to round, so slow drifts of the machine spread over all contenders.
# Measures: wall time and peak RSS of the program (GNU time's %e and %M; for redis, the
# benchmark's wall time and the server's peak RSS), plus user+system CPU time.
# Output (in <build>/bench-peers/): results.csv (every run), table.txt (medians and ratios to
# mimalloc, printed too) and peers.png (gnuplot chart of the ratios).
# Debian packages: libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 python3.11
# libpython3.11-testsuite sqlite3 redis-server redis-tools gnuplot-nox time.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
ROUNDS=${ROUNDS:-3}
OUT=$BUILD/bench-peers
LIB=$BUILD/libkalloc-malloc.so
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBDIR=/usr/lib/$MULTIARCH
KALLOC_BACKENDS=${KALLOC_BACKENDS:-tlsf slab buddy tiny}
ONLY=${ONLY:-small mixed churn large larson python sqlite redis}
TIME=/usr/bin/time
mkdir -p "$OUT"

[ -f "$LIB" ] || { echo "build libkalloc-malloc.so first (make)" >&2; exit 1; }
[ -x "$TIME" ] || { echo "GNU time is needed (Debian: time)" >&2; exit 1; }
cc -O2 -o "$OUT/workload" "$ROOT/bench/workload.c"
cc -O2 -pthread -o "$OUT/larson" "$ROOT/bench/larson.c"

# Contenders: name=preload library ("" for glibc). Missing libraries are left out.
CONT=""
add() {
	if [ -z "$2" ] || [ -f "$2" ]; then
		CONT="$CONT $1=$2"
	else
		echo "note: $1 left out ($2 not installed)" >&2
	fi
}
add glibc ""
add mimalloc "$LIBDIR/libmimalloc.so.2"
add jemalloc "$LIBDIR/libjemalloc.so.2"
add tcmalloc "$LIBDIR/libtcmalloc_minimal.so.4"
for b in $KALLOC_BACKENDS; do
	add "kalloc-$b" "$LIB"
done
if [ -n "${CONTENDERS:-}" ]; then
	keep=""
	for c in $CONT; do
		case " $CONTENDERS " in *" ${c%%=*} "*) keep="$keep $c" ;; esac
	done
	CONT=$keep
fi

# The sqlite3 script: the same one the shim test runs (300k rows).
SQL=$OUT/sqlite.sql
sed -n '/^cat >"\$SQL" <<SQL$/,/^SQL$/p' "$ROOT/tests/shim/sqlite.sh" | sed '1d;$d' |
	sed 's/\$ROWS/300000/g' >"$SQL"
PYMODS="test_json test_re test_pickle test_statistics test_dict"

CSV=$OUT/results.csv
echo "round,workload,contender,wall_s,cpu_s,maxrss_kb" >"$CSV"

# run <workload> <contender name> <preload>: one measurement appended to the CSV.
run() {
	w=$1
	name=$2
	pre=$3
	env_b=""
	case $name in kalloc-*) env_b="KALLOC_BACKEND=${name#kalloc-}" ;; esac
	t=$OUT/time.$$
	case $w in
	small | mixed | churn | large) cmd="$OUT/workload $w" ;;
	larson) cmd="$OUT/larson 2 40 250000 4000" ;;
	python) cmd="/usr/bin/python3.11 -m test $PYMODS" ;;
	sqlite)
		rm -f "$OUT/bench.db"
		cmd="sqlite3 $OUT/bench.db"
		;;
	redis)
		run_redis "$name" "$pre" "$env_b"
		return
		;;
	esac
	if [ "$w" = sqlite ]; then
		env LD_PRELOAD="$pre" $env_b $TIME -f "%e %U %S %M" -o "$t" $cmd <"$SQL" >"$OUT/out.$w.$name" 2>&1 || echo "FAILED: $w $name" >&2
	else
		(cd "$OUT" && env LD_PRELOAD="$pre" PYTHONMALLOC=malloc $env_b $TIME -f "%e %U %S %M" -o "$t" $cmd >"$OUT/out.$w.$name" 2>&1) || echo "FAILED: $w $name" >&2
	fi
	# GNU time is preloaded too, but it measures its child; its own use is not counted.
	awk -v r="$round" -v w="$w" -v n="$name" 'END { printf "%s,%s,%s,%s,%.2f,%s\n", r, w, n, $1, $2 + $3, $4 }' "$t" >>"$CSV"
	rm -f "$t"
}

run_redis() {
	name=$1
	pre=$2
	env_b=$3
	port=$((20000 + $$ % 10000))
	t=$OUT/time.$$
	env LD_PRELOAD="$pre" $env_b $TIME -f "%e %U %S %M" -o "$t" redis-server --port $port \
		--bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning \
		>"$OUT/out.redis.$name" 2>&1 &
	pid=$!
	i=0
	until redis-cli -p $port ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "redis-server did not start" >&2; kill $pid; return; }
		sleep 0.1
	done
	start=$(date +%s.%N)
	redis-benchmark -h 127.0.0.1 -p $port -n 100000 -c 20 -P 16 -r 100000 -d 100 -q \
		-t set,get,incr,lpush,lpop,sadd,hset,mset >"$OUT/out.redis-bench.$name" 2>&1
	end=$(date +%s.%N)
	redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
	wait $pid || true
	awk -v r="$round" -v n="$name" -v s="$start" -v e="$end" \
		'END { printf "%s,redis,%s,%.2f,%.2f,%s\n", r, n, e - s, $2 + $3, $4 }' "$t" >>"$CSV"
	rm -f "$t"
}

ncont=$(echo $CONT | wc -w)
round=1
while [ $round -le "$ROUNDS" ]; do
	for w in $ONLY; do
		# Rotate the contenders' order by the round number.
		rot=$(((round - 1) % ncont))
		head=""
		tail=""
		i=0
		for c in $CONT; do
			if [ $i -lt $rot ]; then tail="$tail $c"; else head="$head $c"; fi
			i=$((i + 1))
		done
		order="$head $tail"
		for c in $order; do
			echo "round $round/$ROUNDS: $w on ${c%%=*}" >&2
			run "$w" "${c%%=*}" "${c#*=}"
		done
	done
	round=$((round + 1))
done

python3 "$ROOT/bench/report.py" "$CSV" "$OUT"
