#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build libkalloc.a freestanding for every supported target, each through its CMake
# toolchain file (cmake/toolchain-<target>.cmake) in its own build directory, and check
# each archive with check_symbols.sh (undefined symbols against allowed_symbols.txt, no TLS,
# no constructors, no large stack frames).
#
# Usage: build_all.sh [-o OUTDIR] [--selftest] [TARGET...]
#   TARGET    x86_64 i386 riscv64 aarch64 cortex-m4 clang-i386 clang-riscv64 (default: all;
#             the clang-* targets build with clang instead of gcc)
#   -o DIR    build directories go to DIR/<target> (default: build/freestanding)
#   --selftest  after the builds, prove the checker can fail: it must reject a copy of the
#             x86_64 archive with an object calling an unknown function, one with a static
#             constructor, one with thread-local data, one whose memcpy calls memset, and a
#             build whose compiler is missing.
# A target whose compiler is missing is a failure, never a skip (CI installs them all).
# Exit status 0 iff every target built and passed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/freestanding
selftest=0
targets=
while [ $# -gt 0 ]; do
	case "$1" in
	-o) out=$2; shift 2 ;;
	--selftest) selftest=1; shift ;;
	-h | --help) sed -n '3,18p' "$0"; exit 0 ;;
	-*) echo "build_all: unknown option $1" >&2; exit 2 ;;
	*) targets="$targets $1"; shift ;;
	esac
done
[ -n "$targets" ] || targets="x86_64 i386 riscv64 aarch64 cortex-m4 clang-i386 clang-riscv64"
mkdir -p "$out"
jobs=${KA_JOBS:-2}

cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$2/CMakeCache.txt"; }

# build TARGET DIR [extra cmake args...]: configure + build + check; returns non-zero on failure.
build() {
	t=$1 dir=$2
	shift 2
	tc=$root/cmake/toolchain-$t.cmake
	if [ ! -f "$tc" ]; then
		echo "build_all: FAIL: $t: no toolchain file $tc" >&2
		return 1
	fi
	# -fstack-usage writes a .su file per object, read by check_symbols --stack-usage. It goes
	# through CFLAGS: -DCMAKE_C_FLAGS would replace the toolchain file's target flags.
	if ! CFLAGS=-fstack-usage cmake -S "$root" -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$tc" \
		-DKA_PLATFORM=freestanding -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.configure.log" 2>&1; then
		echo "build_all: FAIL: $t: configure failed (compiler missing?):" >&2
		grep -A3 -E 'Error|error' "$dir.configure.log" | head -20 >&2
		return 1
	fi
	flags=$(cache_var CMAKE_C_FLAGS "$dir")
	case "$flags" in
	*-ffreestanding*-nostdinc*-isystem*) ;;
	*)
		echo "build_all: FAIL: $t: the toolchain's freestanding flags are not in effect: $flags" >&2
		return 1
		;;
	esac
	if ! cmake --build "$dir" -j "$jobs" >"$dir.build.log" 2>&1; then
		echo "build_all: FAIL: $t: build failed:" >&2
		grep -B2 -A6 -E 'error|undefined' "$dir.build.log" | head -60 >&2
		return 1
	fi
	"$here/check_symbols.sh" --nm "$(cache_var CMAKE_NM "$dir")" \
		--objdump "$(cache_var CMAKE_OBJDUMP "$dir")" --stack-usage "$dir" "$dir/libkalloc.a"
}

failed=
for t in $targets; do
	echo "== $t"
	rm -rf "${out:?}/$t"
	if ! build "$t" "$out/$t"; then
		failed="$failed $t"
	fi
done

if [ "$selftest" -eq 1 ]; then
	echo "== selftest: the check must reject bad archives"
	st=$out/selftest
	rm -rf "$st"
	mkdir -p "$st"
	ref=$out/x86_64
	[ -f "$ref/libkalloc.a" ] || build x86_64 "$ref" || failed="$failed selftest(x86_64 build)"
	nm_=$(cache_var CMAKE_NM "$ref")
	od_=$(cache_var CMAKE_OBJDUMP "$ref")
	cc_=$(cache_var KA_CROSS_CC "$ref")
	cat >"$st/extern.c" <<'EOC'
int ka_selftest_puts(const char *s);
extern int puts(const char *s);
int ka_selftest_puts(const char *s) { return puts(s); }
EOC
	cat >"$st/ctor.c" <<'EOC'
int ka_selftest_ctor_ran;
__attribute__((constructor)) static void ka_selftest_ctor(void) { ka_selftest_ctor_ran = 1; }
EOC
	cat >"$st/tls.c" <<'EOC'
_Thread_local int ka_selftest_tls;
int *ka_selftest_tls_addr(void);
int *ka_selftest_tls_addr(void) { return &ka_selftest_tls; }
EOC
	cat >"$st/memrec.c" <<'EOC'
#include <stddef.h>
void *memset(void *d, int c, size_t n);
void *memcpy(void *restrict d, const void *restrict s, size_t n);
__attribute__((weak)) void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	(void)s;
	return memset(d, 0, n);
}
EOC
	for case in extern ctor tls memrec; do
		"$cc_" -m64 -O2 -ffreestanding -c "$st/$case.c" -o "$st/$case.o"
		cp "$ref/libkalloc.a" "$st/$case.a"
		ar r "$st/$case.a" "$st/$case.o" 2>/dev/null
		if "$here/check_symbols.sh" --nm "$nm_" --objdump "$od_" "$st/$case.a" 2>"$st/$case.err"; then
			echo "build_all: FAIL: selftest: check_symbols accepted an archive with a bad object ($case)" >&2
			failed="$failed selftest($case)"
		else
			echo "selftest: $case rejected as expected: $(head -1 "$st/$case.err")"
		fi
	done
	if KA_CROSS_CC=/nonexistent/ka-no-such-gcc build x86_64 "$st/nocc" 2>"$st/nocc.err"; then
		echo "build_all: FAIL: selftest: a build with a missing compiler passed" >&2
		failed="$failed selftest(nocc)"
	else
		echo "selftest: missing compiler rejected as expected: $(head -1 "$st/nocc.err")"
	fi
fi

if [ -n "$failed" ]; then
	echo "build_all: FAILED:$failed" >&2
	exit 1
fi
echo "build_all: all targets OK:$targets"
