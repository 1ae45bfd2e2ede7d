#!/usr/bin/env python3
"""Test vectors for gonka/pocstore/mmr.h, computed independently of the C++ code.

Written from Gonka's normative definition (docs/pocstore.md, "The commitment"), in a different
shape from the C++ (recursive perfect-tree roots over the leaf list instead of a post-order node
array), with Python's hashlib:
  leaf = SHA256(0x00 || LE32(nonce) || vector), node = SHA256(0x01 || left || right),
  mountains = the binary decomposition of count, highest first; root = peaks bagged right to left.
Run: python3 gonka/pocstore/testdata/mmr_vectors.py  (prints the vectors mmr_test.cc holds).
"""
import hashlib
import struct


def leaf(nonce, vector):
    return hashlib.sha256(b"\x00" + struct.pack("<i", nonce) + vector).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_root(leaves):
    if len(leaves) == 1:
        return leaves[0]
    half = len(leaves) // 2
    return node(tree_root(leaves[:half]), tree_root(leaves[half:]))


def mmr_root(leaves):
    peaks, start, remaining = [], 0, len(leaves)
    while remaining:
        size = 1 << (remaining.bit_length() - 1)
        peaks.append(tree_root(leaves[start:start + size]))
        start += size
        remaining -= size
    root = peaks[-1]
    for p in reversed(peaks[:-1]):
        root = node(p, root)
    return root


def main():
    print("leaf(-1, 010203) =", leaf(-1, b"\x01\x02\x03").hex())
    print("leaf(100, 01020304) =", leaf(100, b"\x01\x02\x03\x04").hex())
    # Gonka's own tests use artifacts (nonce i, vector [i]).
    leaves = [leaf(i, bytes([i])) for i in range(100)]
    for count in (1, 2, 3, 4, 5, 7, 8, 11, 100):
        print(f"root({count}) =", mmr_root(leaves[:count]).hex())


if __name__ == "__main__":
    main()
