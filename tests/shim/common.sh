# SPDX-License-Identifier: MIT
# Shared by the shim's script tests: argument parsing and the preload environment.
# Every script takes: <libkalloc-malloc.so> <backend> <work dir>, and exits 77 (CTest's
# "skipped") when a program it needs is not installed.
set -eu
LIB=$1
BACKEND=$2
WORK=$3
mkdir -p "$WORK"

need() {
	for p in "$@"; do
		if ! command -v "$p" >/dev/null 2>&1 && [ ! -x "$p" ]; then
			echo "SKIP: $p is not installed (see docs/shim.md for the Debian packages)"
			exit 77
		fi
	done
}

# Run a command on kalloc: preloaded, on the chosen backend, with statistics at exit so the
# log shows that kalloc really served the program.
on_kalloc() {
	env LD_PRELOAD="$LIB" KALLOC_BACKEND="$BACKEND" "$@"
}

# A preload that the dynamic linker cannot load is only a warning: make sure kalloc really
# serves programs (it refuses an unknown backend by name, listing the known ones) before
# comparing anything.
check_preload() {
	[ -f "$LIB" ] || { echo "FAIL: $LIB does not exist"; exit 1; }
	err=$(LD_PRELOAD=$LIB KALLOC_BACKEND=probe-no-such-backend sh -c 'echo x' 2>&1 >/dev/null || true)
	case $err in
	*"known backends:"*" $BACKEND"* | *"known backends: $BACKEND"*) ;;
	*)
		echo "FAIL: kalloc/$BACKEND is not active under LD_PRELOAD=$LIB: $err"
		exit 1
		;;
	esac
}
check_preload
