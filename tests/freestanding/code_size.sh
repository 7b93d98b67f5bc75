#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Code size of each part of kalloc at -Os for a 32-bit Cortex-M4 (Thumb-2) and riscv64
# (RV64IMAC): builds the library freestanding with CMAKE_BUILD_TYPE=MinSizeRel through the
# toolchain files, runs the target's `size` on each object file and prints a markdown
# document (docs/code-size.md is this script's output:
#   tests/freestanding/code_size.sh > docs/code-size.md).
#
# Usage: code_size.sh [-o OUTDIR]     (build dirs: OUTDIR/size-<target>, default build/freestanding)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/freestanding
[ "${1:-}" = "-o" ] && out=$2
mkdir -p "$out"
targets="cortex-m4 riscv64"

for t in $targets; do
	dir=$out/size-$t
	rm -rf "$dir"
	if ! cmake -S "$root" -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-$t.cmake" \
		-DKA_PLATFORM=freestanding -DCMAKE_BUILD_TYPE=MinSizeRel >"$dir.log" 2>&1 ||
		! cmake --build "$dir" -j "${KA_JOBS:-2}" >>"$dir.log" 2>&1; then
		echo "code_size: build for $t failed, see $dir.log" >&2
		exit 1
	fi
done

# Parts of the library: one row per backend (src/backend/<name>.c plus its <name>_*.c
# helpers), per frame allocator (src/frame/<name>.c + helpers), then the global allocator,
# boot-time setup, the per-CPU cache, the generic layer and the freestanding platform layer.
parts() {
	for f in "$root"/src/backend/*.c; do
		n=$(basename "$f" .c)
		case $n in *_*) ;; *) echo "backend/$n" ;; esac
	done
	for f in "$root"/src/frame/*.c; do
		n=$(basename "$f" .c)
		case $n in *_*) ;; *) echo "frame/$n" ;; esac
	done
	for d in global boot cache core; do
		for f in "$root/src/$d"/*.c; do
			[ -e "$f" ] && echo "$d/$(basename "$f" .c)=file"
		done
	done
	echo "platform/freestanding=file"
}

# objects PART TARGET: the object files of one part.
objects() {
	objdir=$out/size-$2/CMakeFiles/kalloc.dir/src
	case $1 in
	*=file) ls "$objdir/${1%=file}.c.obj" ;;
	*) ls "$objdir/$1.c.obj" "$objdir/$1"_*.c.obj 2>/dev/null || true ;;
	esac
}

# sizes PART TARGET -> "text data bss" (Berkeley format: text includes read-only data).
sizes() {
	# The target's size(1) sits next to its nm (CMake records nm, not size).
	nm_=$(sed -n 's/^CMAKE_NM:[A-Z]*=//p' "$out/size-$2/CMakeCache.txt")
	sz=${nm_%nm}size
	objs=$(objects "$1" "$2")
	[ -n "$objs" ] || { echo "- - -"; return; }
	# shellcheck disable=SC2086
	"$sz" -B $objs | awk 'NR > 1 { t += $1; d += $2; b += $3 } END { print t, d, b }'
}

label() {
	case ${1%=file} in
	backend/*) echo "backend \`${1#backend/}\`" ;;
	frame/*) echo "frame allocator \`${1#frame/}\`" ;;
	global/global) echo "global allocator (global/global.c)" ;;
	global/pgsrc) echo "page sources (global/pgsrc.c)" ;;
	global/page) echo "page objects (global/page.c)" ;;
	global/dma) echo "DMA allocator (global/dma.c)" ;;
	boot/boot) echo "boot-time setup \`ka_boot\` (boot/boot.c)" ;;
	core/alloc) echo "generic layer (core/alloc.c)" ;;
	core/registry) echo "backend registry (core/registry.c)" ;;
	core/report) echo "misuse/check reports, formatter (core/report.c)" ;;
	core/locked) echo "locking adapter (core/locked.c)" ;;
	platform/freestanding) echo "freestanding platform layer + weak mem* (platform/freestanding.c)" ;;
	*) echo "${1%=file}.c" ;;
	esac
}

cm_cc=$(sed -n 's/^KA_CROSS_CC:[A-Z]*=//p' "$out/size-cortex-m4/CMakeCache.txt")
rv_cc=$(sed -n 's/^KA_CROSS_CC:[A-Z]*=//p' "$out/size-riscv64/CMakeCache.txt")
cat <<EOD
# Code size

Bytes of each part of kalloc built freestanding at \`-Os\` (\`CMAKE_BUILD_TYPE=MinSizeRel\`,
\`KA_DEBUG=0\`, statistics on), as \`size\` reports them for the object files: **text**
includes read-only data (ops tables, strings), **data** is initialised writable data, **bss**
zeroed data. The freestanding build is position dependent, so the \`const\` ops tables and registry
entries are read-only data (counted in text) and no object references a GOT.

- Cortex-M4: \`$(basename "$cm_cc")\` $("$cm_cc" -dumpversion), \`-mcpu=cortex-m4 -mthumb -mfloat-abi=soft\`
- riscv64: \`$(basename "$rv_cc")\` $("$rv_cc" -dumpversion), \`-march=rv64imac_zicsr_zifencei -mabi=lp64 -mcmodel=medany\`

A kernel links only the objects it uses: a build with one backend pays for that backend,
the generic layer and the platform layer (the registry references every backend compiled
in; leave a backend's file out of the build to drop it).

Regenerate with \`tests/freestanding/code_size.sh > docs/code-size.md\`.

| part | Cortex-M4 text | data | bss | riscv64 text | data | bss |
|---|---:|---:|---:|---:|---:|---:|
EOD
tc=0 td=0 tb=0 rc=0 rd=0 rb=0
for p in $(parts); do
	# shellcheck disable=SC2046 # sizes prints three numbers to split
	set -- $(sizes "$p" cortex-m4) $(sizes "$p" riscv64)
	echo "| $(label "$p") | $1 | $2 | $3 | $4 | $5 | $6 |"
	case $1 in -) ;; *) tc=$((tc + $1)) td=$((td + $2)) tb=$((tb + $3)) ;; esac
	case $4 in -) ;; *) rc=$((rc + $4)) rd=$((rd + $5)) rb=$((rb + $6)) ;; esac
done
echo "| **whole library** | **$tc** | **$td** | **$tb** | **$rc** | **$rd** | **$rb** |"
