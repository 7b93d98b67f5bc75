#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the example kernel (examples/baremetal) for each architecture and boot it in QEMU
# (TCG, never KVM; stdin from /dev/null; under `timeout`), at 64 MiB and at 1 GiB of RAM
# (x86 also at 5 GiB: RAM above 4 GiB, which the i386 kernel must leave out and the x86_64
# kernel uses).
# A boot passes only if BOTH hold:
#   - QEMU's exit status is the kernel's pass status (x86: isa-debug-exit value 0x10 ->
#     33; riscv64: SiFive test finisher 0x5555 -> 0), and
#   - the serial console shows the success line "kalloc-kernel: ALL TESTS PASSED" and the
#     RAM size the kernel read from the firmware's map matches -m (so the map is real).
# (Status alone proves nothing: a triple fault makes QEMU exit 0.) Then one boot at 64 MiB
# per other backend able to serve the global allocator ("backend=<name>" on the command
# line; the kernel lists them), which must pass and use that backend, and one with
# "frames=fbitmap" (the other frame allocator). Last, one boot with
# "selftest=fail" on the kernel command line, where the kernel double-frees a block: it must
# end with the failure status (x86: 35, riscv64: 1), the failure line and no success line;
# and one with "selftest=noline", where the kernel exits at once with the PASS status but
# without the success line: the success-line check must reject it.
# On x86_64 and riscv64, one boot with -smp 4 (256 MiB): every CPU allocates through the
# per-CPU cache and frees blocks other CPUs allocated; it passes only with the success line
# AND "smp: PASS (4 CPUs, ...)", which the kernel prints after its barrier, the checkers and
# the statistics (allocations - frees = live blocks, bytes likewise) all agreed; and one
# with "selftest=nosmp" (the kernel passes but leaves the SMP proof out), which the SMP check
# must reject.
#
# Usage: boot_qemu.sh [-o OUTDIR] [--smp-only] [ARCH...]
#   --smp-only: only the -smp 4 boot (x86_64 and riscv64; .ci/steps/smp.sh).
#   ARCH: i386 x86_64 riscv64 (default: all three), or clang-i386 clang-riscv64 (kernel and
#   library built with clang and lld through cmake/toolchain-clang-<arch>.cmake).
# Serial logs: OUTDIR/boot-<arch>-<case>.log (OUTDIR default: build/freestanding).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/freestanding
arches=
smp_only=0
ncpu=1
while [ $# -gt 0 ]; do
	case "$1" in
	-o) out=$2; shift 2 ;;
	--smp-only) smp_only=1; shift ;;
	-h | --help) sed -n '3,25p' "$0"; exit 0 ;;
	-*) echo "boot_qemu: unknown option $1" >&2; exit 2 ;;
	*) arches="$arches $1"; shift ;;
	esac
done
if [ -z "$arches" ]; then
	arches="i386 x86_64 riscv64"
	[ "$smp_only" -eq 0 ] || arches="x86_64 riscv64"
fi
SMP_CPUS=4
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=${KA_JOBS:-2}
tmo=${KA_BOOT_TIMEOUT:-60}
PASS_LINE="kalloc-kernel: ALL TESTS PASSED"
FAIL_LINE="kalloc-kernel: TESTS FAILED"

failed=
# The success line, alone on its line, exactly: required for every passing boot.
has_pass_line() {
	grep -qxF "$PASS_LINE" "$1"
}

bad() {
	echo "boot_qemu: FAIL: $*" >&2
	failed="$failed
  $*"
}

# boot ARCH CASE MEM_MIB EXPECTED_STATUS APPEND
boot() {
	arch=$1 case=$2 mem=$3 want=$4 append=$5
	log=$out/boot-$arch-$case.log
	rm -f "$log"
	case ${arch#clang-} in
	i386 | x86_64)
		set -- "$qemu" -machine pc -accel tcg -m "$mem" -display none -no-reboot \
			-nic none -serial "file:$log" -monitor none \
			-device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$kernel"
		;;
	riscv64)
		set -- qemu-system-riscv64 -machine virt -accel tcg -bios none -m "$mem" \
			-display none -no-reboot -serial "file:$log" -monitor none -kernel "$kernel"
		;;
	esac
	[ -z "$append" ] || set -- "$@" -append "$append"
	[ "$ncpu" -eq 1 ] || set -- "$@" -smp "$ncpu"
	start=$(date +%s)
	st=0
	timeout "$tmo" "$@" </dev/null >"$log.qemu" 2>&1 || st=$?
	secs=$(($(date +%s) - start))
	[ -f "$log" ] || : >"$log"
	tr -d '\r' <"$log" >"$log.txt"
	mv "$log.txt" "$log"
	echo "boot_qemu: $arch $case (-m $mem${append:+, -append \"$append\"}$([ "$ncpu" -eq 1 ] || echo ", -smp $ncpu")): status $st in ${secs}s"
	status_ok=1
	if [ "$st" -ne "$want" ]; then
		bad "$arch $case: QEMU exit status $st, expected $want$([ "$st" -eq 124 ] && echo ' (timeout)')"
		status_ok=0
		tail -n 25 "$log" "$log.qemu" >&2
	fi
}

for arch in $arches; do
	case ${arch#clang-} in
	# i386 also boots with 5 GiB: the map then has RAM above 4 GiB, which a 32-bit kernel
	# must leave out, and a heap near 3 GiB tests 32-bit size arithmetic.
	i386) pass=33 failst=35 qemu=qemu-system-i386 sizes="64 1024 5120" image=kernel.elf ;;
	# x86_64 at 5 GiB: RAM above 4 GiB is in the map and in the heap.
	x86_64) pass=33 failst=35 qemu=qemu-system-x86_64 sizes="64 1024 5120" image=kernel32.elf ;;
	riscv64) pass=0 failst=1 qemu=qemu-system-riscv64 sizes="64 1024" image=kernel.elf ;;
	*) bad "unknown architecture $arch"; continue ;;
	esac
	echo "== $arch"
	if ! command -v "$qemu" >/dev/null 2>&1; then
		bad "$arch: $qemu is not installed (Debian: qemu-system-x86 / qemu-system-misc)"
		continue
	fi
	bdir=$out/kernel-$arch
	kernel=$bdir/$image
	# kernel32.elf is made only when kernel.elf is relinked: remove both.
	rm -f "$kernel" "$bdir/kernel.elf"
	if ! cmake -S "$root/examples/baremetal" -B "$bdir" \
		-DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-$arch.cmake" >"$bdir.configure.log" 2>&1 ||
		! cmake --build "$bdir" -j "$jobs" >"$bdir.build.log" 2>&1; then
		bad "$arch: kernel build failed (see $bdir.configure.log, $bdir.build.log)"
		grep -h -B2 -A4 -E 'error|Error|undefined' "$bdir.configure.log" "$bdir.build.log" |
			head -40 >&2 || true
		continue
	fi

	# SMP: every CPU through the cache, blocks freed by other CPUs (not on i386).
	if [ "${arch#clang-}" != i386 ]; then
		ncpu=$SMP_CPUS
		boot "$arch" "smp$SMP_CPUS" 256 "$pass" ""
		ncpu=1
		log=$out/boot-$arch-smp$SMP_CPUS.log
		if [ "$status_ok" -ne 1 ]; then
			:
		elif ! has_pass_line "$log"; then
			bad "$arch -smp $SMP_CPUS: no success line \"$PASS_LINE\" on the serial console"
			tail -n 25 "$log" >&2
		elif ! grep -q "^smp: PASS ($SMP_CPUS CPUs," "$log"; then
			bad "$arch -smp $SMP_CPUS: no \"smp: PASS ($SMP_CPUS CPUs, ...)\" line"
			grep '^smp' "$log" >&2 || true
		else
			echo "boot_qemu: $arch -smp $SMP_CPUS: $(grep -m1 '^smp: PASS' "$log")"
		fi
		# The harness itself: a passing boot without the SMP proof must be rejected.
		ncpu=$SMP_CPUS
		boot "$arch" "smp$SMP_CPUS-selftest-nosmp" 256 "$pass" "selftest=nosmp"
		ncpu=1
		log=$out/boot-$arch-smp$SMP_CPUS-selftest-nosmp.log
		if grep -q "^smp: PASS" "$log"; then
			bad "$arch -smp $SMP_CPUS selftest=nosmp: the SMP check accepted a boot without it"
		elif [ "$status_ok" -eq 1 ] && has_pass_line "$log"; then
			echo "boot_qemu: $arch -smp $SMP_CPUS selftest=nosmp: boot without the SMP proof rejected as expected"
		else
			bad "$arch -smp $SMP_CPUS selftest=nosmp: the boot itself failed"
		fi
	fi
	[ "$smp_only" -eq 0 ] || continue

	for mem in $sizes; do
		boot "$arch" "m$mem" "$mem" "$pass" ""
		log=$out/boot-$arch-m$mem.log
		[ "$status_ok" -eq 1 ] || continue
		if ! has_pass_line "$log"; then
			bad "$arch -m $mem: no success line \"$PASS_LINE\" on the serial console"
			tail -n 25 "$log" >&2
			continue
		fi
		# The RAM the kernel read from the firmware must be what QEMU was given (minus
		# what the BIOS keeps on x86), or the map was not really read; the heap must
		# cover most of what the kernel can address (at most 4 GiB on i386).
		seen=$(sed -n 's/^ram: \([0-9]*\) MiB usable.*/\1/p' "$log" | head -1)
		if [ -z "$seen" ] || [ "$seen" -gt "$mem" ] || [ "$seen" -lt $((mem - 8)) ]; then
			bad "$arch -m $mem: kernel reported '${seen:-no}' MiB of usable RAM"
			continue
		fi
		heap=$(sed -n 's/.*(heap-mib=\([0-9]*\)).*/\1/p' "$log" | head -1)
		reach=$mem
		[ "${arch#clang-}" != i386 ] || [ "$reach" -le 3072 ] || reach=3072 # QEMU pc: RAM above 3 GiB moves above 4 GiB
		if [ -z "$heap" ] || [ "$heap" -lt $((reach - 16)) ] || [ "$heap" -gt "$mem" ]; then
			bad "$arch -m $mem: heap of '${heap:-no}' MiB, expected about $reach MiB"
			continue
		fi
		echo "boot_qemu: $arch -m $mem: PASS (firmware map: $seen MiB usable, heap $heap MiB)"
	done

	# The byte backend by name at run time: one boot per backend the kernel lists as able to
	# serve the global allocator (the default one was used above), then the other frame
	# allocator.
	log=$out/boot-$arch-m64.log
	dflt=$(sed -n 's/^ka_boot_system: backend \([a-z0-9]*\),.*/\1/p' "$log" | head -1)
	for b in $(sed -n 's/^system backends://p' "$log" | head -1); do
		[ "$b" != "$dflt" ] || continue
		boot "$arch" "backend-$b" 64 "$pass" "backend=$b"
		blog=$out/boot-$arch-backend-$b.log
		[ "$status_ok" -eq 1 ] || continue
		if ! has_pass_line "$blog"; then
			bad "$arch backend=$b: no success line on the serial console"
			tail -n 25 "$blog" >&2
		elif ! grep -q "^ka_boot_system: backend $b," "$blog"; then
			bad "$arch backend=$b: ka_boot_system did not use $b"
		else
			echo "boot_qemu: $arch backend=$b: PASS"
		fi
	done
	boot "$arch" frames-fbitmap 64 "$pass" "frames=fbitmap"
	blog=$out/boot-$arch-frames-fbitmap.log
	if [ "$status_ok" -ne 1 ]; then
		:
	elif ! has_pass_line "$blog"; then
		bad "$arch frames=fbitmap: no success line on the serial console"
		tail -n 25 "$blog" >&2
	elif ! grep -q "^ka_boot_system: backend [a-z0-9]*, frames fbitmap," "$blog"; then
		bad "$arch frames=fbitmap: ka_boot_system did not use fbitmap"
	else
		echo "boot_qemu: $arch frames=fbitmap: PASS"
	fi

	# The harness itself: the pass status without the success line must be rejected.
	boot "$arch" selftest-noline 64 "$pass" "selftest=noline"
	if has_pass_line "$out/boot-$arch-selftest-noline.log"; then
		bad "$arch selftest=noline: the success-line check accepted a boot without it"
	elif [ "$status_ok" -eq 1 ]; then
		echo "boot_qemu: $arch selftest=noline: pass status without the success line rejected as expected"
	fi

	boot "$arch" selftest-fail 64 "$failst" "selftest=fail"
	log=$out/boot-$arch-selftest-fail.log
	if grep -qxF "$PASS_LINE" "$log"; then
		bad "$arch selftest=fail: the success line appeared"
	elif ! grep -qxF "$FAIL_LINE" "$log"; then
		bad "$arch selftest=fail: no failure line \"$FAIL_LINE\" on the serial console"
	elif [ "$status_ok" -eq 1 ]; then
		echo "boot_qemu: $arch selftest=fail: failure caught as expected: $(grep -m1 -E '^(PANIC|FAIL)' "$log")"
	fi
done

if [ -n "$failed" ]; then
	echo "boot_qemu: FAILED:$failed" >&2
	exit 1
fi
echo "boot_qemu: all boots OK:$arches"
