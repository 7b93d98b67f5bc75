#!/bin/sh
# SPDX-License-Identifier: MIT
# sqlite3 on a few hundred thousand rows: inserts, an index, joins, grouping, sorting,
# updates, deletes and a VACUUM; the output must be byte-identical to the system allocator's.
# usage: sqlite.sh <libkalloc-malloc.so> <backend> <work dir> [rows]
. "$(dirname "$0")/common.sh"
ROWS=${4:-250000}
need sqlite3
SQL=$WORK/sqlite-$BACKEND.sql
cat >"$SQL" <<SQL
PRAGMA cache_size = -16000;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, v REAL, blob BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS)
INSERT INTO t(k, name, v, blob)
  SELECT (i * 7919) % 1000, printf('name-%08d-%s', (i * 104729) % 1000003, hex(i * 31)),
         (i % 977) * 1.5, zeroblob(i % 200) FROM n;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_name ON t(name);
CREATE TABLE g AS SELECT k, count(*) AS c, sum(v) AS s, max(name) AS m FROM t GROUP BY k;
SELECT count(*), sum(k), total(v), sum(length(blob)) FROM t;
SELECT k, c, s, m FROM g ORDER BY s DESC, k LIMIT 20;
SELECT t.k, count(*) FROM t JOIN g ON g.k = t.k WHERE g.c > 299 GROUP BY t.k ORDER BY t.k LIMIT 20;
SELECT name FROM t ORDER BY name DESC LIMIT 10 OFFSET 1000;
SELECT group_concat(name, ',') FROM (SELECT name FROM t WHERE k = 17 ORDER BY id LIMIT 50);
UPDATE t SET name = upper(name) || '-' || k, blob = zeroblob(300) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(name)), sum(length(blob)) FROM t;
SELECT k, count(DISTINCT substr(name, 6, 4)) FROM t GROUP BY k ORDER BY 2 DESC, 1 LIMIT 10;
VACUUM;
SELECT count(*), min(name), max(name) FROM t;
SQL
S=$WORK/sqlite-$BACKEND
rm -f "$S.sys.db" "$S.k.db"
sqlite3 "$S.sys.db" <"$SQL" >"$S.sys.out"
on_kalloc sqlite3 "$S.k.db" <"$SQL" >"$S.k.out"
if [ "$(wc -l <"$S.sys.out")" -lt 20 ]; then
	echo "FAIL: the system run gave too little output"
	exit 1
fi
if ! cmp "$S.sys.out" "$S.k.out"; then
	diff "$S.sys.out" "$S.k.out" | head -20
	echo "FAIL: output differs on kalloc/$BACKEND"
	exit 1
fi
echo "PASS: $(wc -l <"$S.sys.out") lines identical, $ROWS rows"
rm -f "$S.sys.db" "$S.k.db"
