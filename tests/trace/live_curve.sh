#!/bin/sh
# SPDX-License-Identifier: MIT
# Record a real program (sqlite3 building, indexing, joining and vacuuming a table) under the
# shim with KALLOC_TRACE, replay the trace on every allocator of kalloc-bench, and check with
# check_live.py (its own decoder) that every replay's live-byte curve is the recording's.
# With matplotlib installed, also draws the report and checks that the picture was written.
# usage: live_curve.sh <libkalloc-malloc.so> <kalloc-bench> <work dir>
set -eu
LIB=$1
BENCH=$2
WORK=$3
HERE=$(dirname "$0")
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: sqlite3 is not installed"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
rm -rf "$WORK"
mkdir -p "$WORK"
cat >"$WORK/q.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, blob BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO t(k, name, blob)
  SELECT (i * 7919) % 100, printf('name-%08d-%s', (i * 104729) % 1000003, hex(i * 31)),
         zeroblob(i % 300) FROM n;
CREATE INDEX t_name ON t(name);
SELECT k, count(*), max(name) FROM t GROUP BY k ORDER BY 2 DESC LIMIT 5;
UPDATE t SET name = upper(name), blob = zeroblob(500) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
SELECT count(*), sum(length(name)), sum(length(blob)) FROM t;
SQL
env LD_PRELOAD="$LIB" KALLOC_TRACE="$WORK/sqlite.kt" sqlite3 "$WORK/db" <"$WORK/q.sql" >"$WORK/out.txt"
[ -s "$WORK/sqlite.kt" ] || { echo "FAIL: no trace written"; exit 1; }
ls -l "$WORK/sqlite.kt"
"$BENCH" replay "$WORK/sqlite.kt" --quiet --points 300 --out "$WORK/replay"
python3 "$HERE/check_live.py" "$WORK/sqlite.kt" "$WORK/replay"
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import matplotlib' 2>/dev/null; then
		"$py" "$HERE/../../bench/trace/report.py" "$WORK/replay"
		[ -s "$WORK/replay/report.png" ] || { echo "FAIL: no report.png"; exit 1; }
		break
	fi
done
echo "PASS"
