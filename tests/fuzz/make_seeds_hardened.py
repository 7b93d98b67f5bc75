#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of tests/fuzz/corpus/hardened (deterministic), aimed at what only
the hardened backend has: quarantine eviction, the drain before out-of-memory, size-class and
small/large boundaries, page-aligned slots, page blocks next to byte blocks.

Encoding as in fuzz_backend.c: 4 bytes per operation (opcode, x, y, z); a request's size is
((x << 8) | y) >> (z & 7).
"""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "hardened")


def op(code, x=0, y=0, z=0):
    return bytes([code, x & 255, y & 255, z & 255])


def size_op(code, n, z=0):
    return op(code, n >> 8, n & 255, z)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    # Same-class malloc/free pairs: every block passes through and leaves the quarantine.
    seeds["quarantine_cycle"] = b"".join(size_op(0, 40) + op(4, 0) for _ in range(100))
    # Requests at the edges of classes and of the small/large split (8184/8185 bytes).
    edges = [1, 8, 9, 120, 121, 248, 249, 1016, 1017, 4088, 4089, 8184, 8185, 8192, 12288]
    seeds["class_edges"] = b"".join(size_op(0, n) for n in edges) + b"".join(
        op(4, 0) for _ in edges)
    # Exhaust the fuzz heap with 64 KiB blocks, free half, refill: the drain path.
    seeds["exhaust_drain"] = b"".join(op(0, 255, 255, 0) for _ in range(64)) + b"".join(
        op(4, 2 * i) for i in range(32)) + b"".join(op(0, 255, 255, 0) for _ in range(32))
    # Slot alignment up to a page, then alignments that need the large path.
    seeds["memalign_pages"] = b"".join(op(7, 0, 100 + i, a) for i, a in
                                       enumerate([5, 8, 10, 11, 12, 13, 14, 16]))
    # Page blocks interleaved with byte blocks, freed in another order.
    seeds["pages_mixed"] = b"".join(op(8, i, 1) + size_op(0, 300 * i + 1) for i in range(12)) + \
        b"".join(op(5, 5 * i) for i in range(24))
    # One block grown by realloc from a slot to pages and shrunk back.
    seeds["realloc_classes"] = size_op(0, 10) + b"".join(
        size_op(6, n) for n in [100, 1000, 8184, 8185, 40000, 65535, 5000, 20]) + op(4, 0)
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
