#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmake --install, then build a separate consumer project against the installed package,
# once through the CMake package config and once through pkg-config.
set -euo pipefail
root=$(pwd)
prefix=$(mktemp -d)
cmake -S . -B build-install -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build build-install -j "$(nproc)"
cmake --install build-install >/dev/null
test -f "$prefix/include/kalloc/alloc.h"
test -f "$prefix/lib/pkgconfig/kalloc.pc" || test -f "$prefix"/lib/*/pkgconfig/kalloc.pc
cmake -S tests/install -B build-consumer -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build-consumer
./build-consumer/consumer
pcdir=$(dirname "$(find "$prefix" -name kalloc.pc | head -n1)")
PKG_CONFIG_PATH="$pcdir" cc -std=c11 -o build-consumer/consumer-pc tests/install/consumer.c \
	$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs kalloc)
./build-consumer/consumer-pc
rm -rf "$prefix"
cd "$root"
