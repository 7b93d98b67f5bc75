#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Code size of each part of kalloc at -Os for a 32-bit Cortex-M4 (Thumb-2) and riscv64
# (RV64IMAC): builds the library freestanding with CMAKE_BUILD_TYPE=MinSizeRel through the
# toolchain files, runs the target's `size` on each object file and prints a markdown
# document (docs/code-size.md is this script's output:
#   tests/freestanding/code_size.sh > docs/code-size.md).
#
# It also links, per backend, the program tests/freestanding/size_prog.c (init one heap over a
# static arena, malloc(100), free) against the library in the default and in the minimal
# configuration (-DKA_MINIMAL=ON), and prints text+rodata of the linked program minus the
# same program without a heap.
#
# Usage: code_size.sh [-o OUTDIR] [--check FILE]
#   -o OUTDIR     build dirs: OUTDIR/size-<target>[-min], default build/freestanding
#   --check FILE  print nothing; compare the linked-program figures with the table in FILE
#                 (the committed docs/code-size.md) and fail if one grew by more than 5%
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/freestanding
check=
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift 2 ;;
	--check) check=$2; shift 2 ;;
	*) echo "code_size: unknown argument $1" >&2; exit 2 ;;
	esac
done
mkdir -p "$out"
targets="cortex-m4 riscv64"

for t in $targets; do
	for cfg in "" -min; do
		dir=$out/size-$t$cfg
		rm -rf "$dir"
		min=OFF
		[ -z "$cfg" ] || min=ON
		if ! cmake -S "$root" -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-$t.cmake" \
			-DKA_PLATFORM=freestanding -DCMAKE_BUILD_TYPE=MinSizeRel -DKA_MINIMAL=$min \
			>"$dir.log" 2>&1 || ! cmake --build "$dir" -j "${KA_JOBS:-2}" >>"$dir.log" 2>&1; then
			echo "code_size: build for $t$cfg failed, see $dir.log" >&2
			exit 1
		fi
	done
done

# Backends with a direct constructor ka_<name>_init() in their header.
heap_backends() {
	for f in "$root"/src/backend/*.c; do
		n=$(basename "$f" .c)
		case $n in *_*) continue ;; esac
		grep -q "ka_${n}_init(void \*base, size_t len)" "$root/include/kalloc/$n.h" 2>/dev/null &&
			echo "$n"
	done
}

# textro ELF SIZE: text + read-only data of a linked program.
textro() {
	"$2" -A "$1" | awk '$1 ~ /^\.(text|rodata)/ { t += $2 } END { print t + 0 }'
}

# toolchain DIR: the compiler, target flags and nm of the build in DIR (cc, tflags, nm_), and
# the flags every linked program is built with (flags).
toolchain() {
	cc=$(sed -n 's/^KA_CROSS_CC:[A-Z]*=//p' "$1/CMakeCache.txt")
	tflags=$(sed -n 's/^CMAKE_C_FLAGS:[A-Z]*=//p' "$1/CMakeCache.txt")
	nm_=$(sed -n 's/^CMAKE_NM:[A-Z]*=//p' "$1/CMakeCache.txt")
	flags="-Os -DNDEBUG -Wall -Wextra -Werror -ffunction-sections -fdata-sections -nostdlib -static -Wl,--gc-sections"
	flags="$flags -Wl,-e,_start -Wl,--no-warn-rwx-segments -I$root/include"
}

# linked DIR BACKEND: bytes the heap adds to the program (BACKEND "none": the program alone).
linked() {
	toolchain "$1"
	# shellcheck disable=SC2086 # flag lists
	$cc $tflags $flags -DKA_SIZE_NONE "$here/size_prog.c" -o "$1/none.elf"
	base=$(textro "$1/none.elf" "${nm_%nm}size")
	# shellcheck disable=SC2086
	$cc $tflags $flags -DKA_SIZE_INIT="ka_$2_init" "$here/size_prog.c" "$1/libkalloc.a" -lgcc \
		-o "$1/$2.elf"
	echo $(($(textro "$1/$2.elf" "${nm_%nm}size") - base))
}

# Backends whose checker and walker are linked only with ka_check()/ka_walk()
# (src/core/check.h), with a symbol of their checker.
lazy_checkers="buddy:bd_check hardened:ka_hardened_check_impl pool:ka_pool_check_impl
region:ka_region_check_impl slab:ka_slab_check_impl tiny:ka_tiny_check_impl tlsf:ka_tlsf_check_impl"

# lazy DIR: fail unless each of those checkers is absent from the program above and present
# in the same program calling ka_check() and ka_walk() (size_prog.c -DKA_SIZE_CHECK).
lazy() {
	toolchain "$1"
	bad=0
	for bs in $lazy_checkers; do
		b=${bs%%:*} sym=${bs#*:}
		# shellcheck disable=SC2086 # flag lists
		$cc $tflags $flags -DKA_SIZE_INIT="ka_${b}_init" "$here/size_prog.c" "$1/libkalloc.a" \
			-lgcc -o "$1/$b-plain.elf"
		# shellcheck disable=SC2086
		$cc $tflags $flags -DKA_SIZE_CHECK -DKA_SIZE_INIT="ka_${b}_init" "$here/size_prog.c" \
			"$1/libkalloc.a" -lgcc -o "$1/$b-check.elf"
		if "$nm_" "$1/$b-plain.elf" | grep -q " $sym\$"; then
			echo "code_size: FAIL: $b: $sym linked into a program that never checks ($1)" >&2
			bad=1
		fi
		if ! "$nm_" "$1/$b-check.elf" | grep -q " [Tt] $sym\$"; then
			echo "code_size: FAIL: $b: $sym missing from a program that calls ka_check ($1)" >&2
			bad=1
		fi
	done
	return $bad
}

linked_rows() {
	for b in $(heap_backends); do
		echo "| \`$b\` | $(linked "$out/size-cortex-m4-min" "$b") | $(linked "$out/size-cortex-m4" "$b") |" \
			"$(linked "$out/size-riscv64-min" "$b") | $(linked "$out/size-riscv64" "$b") |"
	done
}

if [ -n "$check" ]; then
	# Rows of the committed table: "| `name` | cm4 min | cm4 default | rv min | rv default |".
	fail=0
	for t in $targets; do
		lazy "$out/size-$t" || fail=1
	done
	# shellcheck disable=SC2086 # one line of the list
	[ $fail = 0 ] && echo "code_size: checkers linked only with ka_check/ka_walk:" $lazy_checkers
	linked_rows >"$out/linked.now"
	while IFS='|' read -r _ name a b c d _; do
		name=$(echo "$name" | tr -d ' `')
		old=$(grep "^| \`$name\` | [0-9]" "$check" | head -1) || {
			echo "code_size: $name: no committed figure in $check" >&2
			fail=1
			continue
		}
		# shellcheck disable=SC2046 # four numbers to split
		set -- $(echo "$old" | tr '|' ' ' | awk '{ print $2, $3, $4, $5 }')
		for new in $a $b $c $d; do
			if [ "$new" -gt $(($1 * 105 / 100)) ]; then
				echo "code_size: FAIL: $name grew from $1 to $new bytes (more than 5%)" >&2
				fail=1
			else
				echo "code_size: $name: $new bytes (committed $1)"
			fi
			shift
		done
	done <"$out/linked.now"
	exit $fail
fi

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

Measured with freestanding builds at \`-Os\` (\`CMAKE_BUILD_TYPE=MinSizeRel\`, \`KA_DEBUG=0\`):

- Cortex-M4: \`$(basename "$cm_cc")\` $("$cm_cc" -dumpversion), \`-mcpu=cortex-m4 -mthumb -mfloat-abi=soft\`
- riscv64: \`$(basename "$rv_cc")\` $("$rv_cc" -dumpversion), \`-march=rv64imac_zicsr_zifencei -mabi=lp64 -mcmodel=medany\`

Regenerate with \`tests/freestanding/code_size.sh > docs/code-size.md\`; CI runs
\`tests/freestanding/code_size.sh --check docs/code-size.md\` and fails if a figure of the
first table grows by more than 5%.

## One heap, linked

What one heap costs a program: \`tests/freestanding/size_prog.c\` (init the backend over a
static 64 KiB arena with \`ka_<name>_init()\`, \`ka_malloc(a, 100)\`, \`ka_free\`) compiled
\`-Os -DNDEBUG -ffunction-sections -fdata-sections\`, linked \`-nostdlib -Wl,--gc-sections\`
against \`libkalloc.a\` (itself built with \`-ffunction-sections -fdata-sections\`), text +
rodata of the program minus the same program without a heap, in bytes. **minimal** is the
library built with \`-DKA_MINIMAL=ON\` (\`KA_CFG_MINIMAL=1\`: no statistics, fixed misuse
messages through the panic hook, no checker or walker in tiny and tlsf, tlsf with one pool
(no \`ka_add_memory\`) and its realloc by the generic move, tiny as its compact variant
\`tiny_compact.c\` with one region (first fit over an address-ordered free list:
docs/backend-tiny.md); the misuse checks on free, coalescing and every other operation
stay), **default** the stock configuration. Built for size, tiny is the compact variant in
both (\`KA_CFG_TINY_COMPACT\` defaults to 1 under \`__OPTIMIZE_SIZE__\`: config.h); in the
default configuration it keeps the whole tiny contract: several regions (\`ka_add_memory\`,
\`ka_owns\`), statistics, formatted reports, checker and walker. Set
\`-DKA_CFG_TINY_COMPACT=0\` for the binned variant (\`tiny.c\`, O(1) free) at \`-Os\`. The
program calls neither \`ka_check()\` nor \`ka_walk()\`, so in either configuration no
backend's checker or walker is linked (they sit in \`src/backend/<name>_validate.c\`, the
compact tiny's in \`tiny_compact_validate.c\`, named weakly by the ops table and loaded by
\`ka_check()\`: docs/design.md).
Built for size (\`-Os\`), the statistics counting is one shared function
(\`ka_count_alloc_shared\`) instead of a copy in every object.

| heap | Cortex-M4 minimal | Cortex-M4 default | riscv64 minimal | riscv64 default |
|---|---:|---:|---:|---:|
EOD
linked_rows
cat <<EOD

## Parts of the library

Bytes of each part of the library in the default configuration (statistics on), as \`size\`
reports them for the object files: **text** includes read-only data (ops tables, strings),
**data** is initialised writable data, **bss** zeroed data. The freestanding build is
position dependent, so the \`const\` ops tables and registry entries are read-only data
(counted in text) and no object references a GOT. A program links only the sections it
uses (table above): the generic layer does not reference the registry, so a program that
calls \`ka_tiny_init()\` links tiny alone; the registry (\`ka_backend_find\`) references the
backends of \`-DKA_BACKENDS=\` (default: all).

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
