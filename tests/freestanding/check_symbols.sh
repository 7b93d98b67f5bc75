#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Check a freestanding libkalloc.a for what a kernel could not link:
#  1. undefined symbols (nm -u over the archive), minus the symbols the archive defines
#     itself, must all be listed in allowed_symbols.txt (memset/memcpy/memmove/memcmp):
#     anything else is a libc call, a libgcc helper (__udivdi3, __clzsi2, soft-float),
#     libatomic (__atomic_*), TLS (__tls_get_addr) or a stack protector reference;
#  2. no thread-local data (.tdata/.tbss) and no static constructors or destructors
#     (.init_array/.fini_array/.ctors/.dtors), which a kernel does not run;
#  3. the library's own memset/memcpy/memmove/memcmp (the weak fallbacks) hold no call to
#     any of the four: a compiler that turns their loops back into library calls (gcc's
#     loop distribution, clang's idiom recognition) would make them recurse forever;
#  4. with --stack-usage DIR: no function frame above KA_STACK_LIMIT bytes (default 1024)
#     and no dynamic frame (VLA/alloca), from the compiler's -fstack-usage .su files.
#
# Usage: check_symbols.sh [--nm NM] [--objdump OBJDUMP] [--stack-usage DIR] ARCHIVE [ALLOWED]
# Exit status 0 when clean, 1 with one line per problem on stderr otherwise.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
NM="nm"
OBJDUMP="objdump"
SUDIR=
LIMIT=${KA_STACK_LIMIT:-1024}
while [ $# -gt 0 ]; do
	case "$1" in
	--nm) NM=$2; shift 2 ;;
	--objdump) OBJDUMP=$2; shift 2 ;;
	--stack-usage) SUDIR=$2; shift 2 ;;
	-*) echo "check_symbols: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--nm NM] [--objdump OD] [--stack-usage DIR] ARCHIVE [ALLOWED]" >&2; exit 2; }
ar=$1
allowed=${2:-$here/allowed_symbols.txt}
[ -f "$ar" ] || { echo "check_symbols: FAIL: no archive $ar" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# An archive without objects would pass every test below: refuse it.
nobj=$("$NM" -A "$ar" 2>/dev/null | cut -d: -f2 | sort -u | wc -l)
if [ "$nobj" -lt 2 ]; then
	echo "check_symbols: FAIL: $ar holds $nobj object(s); expected the whole library" >&2
	exit 1
fi

"$NM" -g --defined-only "$ar" | awk 'NF >= 3 { print $3 }' | sort -u >"$tmp/defined"
"$NM" -u "$ar" | awk 'NF >= 2 && ($1 == "U" || $1 == "w") { print $2 }' | sort -u >"$tmp/undef"
sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$allowed" | sort -u >"$tmp/allowed"
comm -23 "$tmp/undef" "$tmp/defined" >"$tmp/external"
comm -23 "$tmp/external" "$tmp/allowed" >"$tmp/bad"

fail=0
while read -r sym; do
	users=$("$NM" -A -u "$ar" | awk -v s="$sym" '$NF == s { split($1, p, ":"); print p[2] }' |
		sort -u | tr '\n' ' ')
	echo "check_symbols: FAIL: undefined symbol '$sym' (not in $(basename "$allowed")), used by: $users" >&2
	fail=1
done <"$tmp/bad"

# Sections a kernel will not set up for the library.
"$OBJDUMP" -h "$ar" >"$tmp/sections"
for sec in .tdata .tbss .init_array .fini_array .ctors .dtors; do
	if awk -v s="$sec" '$2 == s || index($2, s ".") == 1 { found = 1 } END { exit !found }' "$tmp/sections"; then
		objs=$(awk -v s="$sec" '/file format/ { f = $1 } $2 == s || index($2, s ".") == 1 { print f }' \
			"$tmp/sections" | sort -u | tr '\n' ' ')
		echo "check_symbols: FAIL: section $sec (TLS or static constructor) in: $objs" >&2
		fail=1
	fi
done

# Relocations naming a mem* function inside the body of a mem* function are calls (jumps
# within a function refer to local labels or the section, not to these symbols).
"$OBJDUMP" -dr "$ar" | awk '
	/^[0-9a-f]+ <[^>]+>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
	/^In archive|file format/ { fn = "" }
	fn ~ /^(memset|memcpy|memmove|memcmp)$/ && /R_[A-Z0-9_]+[ \t]+(memset|memcpy|memmove|memcmp)([^a-z_]|$)/ {
		print "check_symbols: FAIL: " fn " calls itself or another mem* function: " $0; bad = 1
	}
	END { exit bad }' >&2 || fail=1

if [ -n "$SUDIR" ]; then
	find "$SUDIR" -name '*.su' -exec cat {} + >"$tmp/su" 2>/dev/null || true
	if [ ! -s "$tmp/su" ]; then
		echo "check_symbols: FAIL: no .su files under $SUDIR (build with -fstack-usage)" >&2
		fail=1
	fi
	# Lines: file:line:col:function<TAB>bytes<TAB>static|dynamic|dynamic,bounded
	awk -F'\t' -v lim="$LIMIT" '
		$2 + 0 > lim { print "check_symbols: FAIL: stack frame of " $2 " bytes (limit " lim "): " $1; bad = 1 }
		$3 ~ /^dynamic/ && $3 != "dynamic,bounded" { print "check_symbols: FAIL: dynamic stack frame: " $1; bad = 1 }
		END { exit bad }' "$tmp/su" >&2 || fail=1
fi

if [ "$fail" -ne 0 ]; then
	exit 1
fi
n=$(wc -l <"$tmp/external")
echo "check_symbols: OK: $ar: $nobj objects, $n external symbol(s): $(tr '\n' ' ' <"$tmp/external")"
