#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the hand-made seed inputs of tests/fuzz/corpus/common (deterministic).

Each operation is 4 bytes: opcode, x, y, z (see fuzz_backend.c). The seeds reach every
opcode: allocation bursts, frees, reallocs that grow and shrink, aligned allocations up to
64 KiB, pages, added regions, calloc, and a random mix.
"""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "common")


def op(code, x=0, y=0, z=0):
    return bytes([code, x & 255, y & 255, z & 255])


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    seeds["burst_free"] = b"".join(op(0, i, 37 * i, 3) for i in range(40)) + b"".join(
        op(4, i) for i in range(40))
    seeds["realloc_grow_shrink"] = op(0, 0, 64, 0) + b"".join(
        op(6, 0, 16 * i, i % 4) for i in range(1, 30)) + op(6, 0, 1, 7)
    seeds["memalign_all"] = b"".join(op(7, i, 100, a) for i, a in enumerate(range(17)))
    seeds["pages"] = b"".join(op(8, i, 1) for i in range(8)) + b"".join(
        op(5, 3 * i) for i in range(8))
    seeds["add_memory"] = b"".join(op(0, 255, 255, 0) for _ in range(80)) + op(9) + op(9) + \
        b"".join(op(0, 40, 0, 0) for _ in range(20))
    seeds["calloc"] = b"".join(op(3, 1, 200, z) for z in range(16))
    seeds["zero_sizes"] = op(0, 0, 0, 0) * 10 + op(6, 0, 0, 0) + op(3, 0, 0, 0) + op(4, 0)
    rnd = random.Random(12345)
    for n in range(6):
        seeds[f"random_{n}"] = bytes(rnd.randrange(256) for _ in range(4 * 300))
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
