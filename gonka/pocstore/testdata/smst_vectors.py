#!/usr/bin/env python3
"""Test vectors for gonka/pocstore/smst.h, computed independently of the C++ code.

Written from Gonka's SMST definition (docs/reference/gonka-poc-artifacts.md, "The SMST"), in the
shape Gonka's dapi uses rather than the C++ one: a pointer tree that starts at depth 24, inserts
one artifact at a time in arrival order along the nonce's bits, and grows (wrapping the old root
as the left child of new levels, the right side empty) when a nonce needs more bits; hashes are
filled in at the end. The C++ builds the tree in one pass over keys sorted at the final depth —
equal roots show that the two agree, including the depth growth and negative nonces.
  leaf  = SHA256(0x00 || LE32(nonce) || vector); empty(0) = SHA256(0x00)
  node  = SHA256(0x01 || left || right || LE32(count)); empty(h) = node(empty(h-1), empty(h-1), 0)
Run: python3 gonka/pocstore/testdata/smst_vectors.py  (prints the vectors smst_test.cc holds).
"""
import hashlib
import struct


def leaf(nonce, vector):
    return hashlib.sha256(b"\x00" + struct.pack("<i", nonce) + vector).digest()


def node(left, right, count):
    return hashlib.sha256(b"\x01" + left + right + struct.pack("<I", count)).digest()


class Tree:
    def __init__(self):
        self.depth = 24
        self.root = None  # node: [left, right, count] or ("leaf", hash)
        self.empty = [hashlib.sha256(b"\x00").digest()]
        for _ in range(32):
            self.empty.append(node(self.empty[-1], self.empty[-1], 0))

    def insert(self, nonce, vector):
        key = nonce & 0xffffffff
        need = max(1, key.bit_length())
        while self.depth < need:  # grow: the old root becomes the left child
            if self.root is not None:
                self.root = [self.root, None, self.root[2]]
            self.depth += 1
        self.root = self._insert(self.root, key, 0, leaf(nonce, vector))

    def _insert(self, n, key, level, h):
        if level == self.depth:
            return ("leaf", h, 1)
        if n is None:
            n = [None, None, 0]
        bit = (key >> (self.depth - 1 - level)) & 1
        n[bit] = self._insert(n[bit], key, level + 1, h)
        n[2] += 1
        return n

    def _hash(self, n, height):
        if n is None:
            return self.empty[height]
        if n[0] == "leaf":
            return n[1]
        return node(self._hash(n[0], height - 1), self._hash(n[1], height - 1), n[2])

    def root_hash(self):
        return self._hash(self.root, self.depth)


def main():
    print("empty(0) =", hashlib.sha256(b"\x00").digest().hex())
    t = Tree()
    print("empty(24) =", t.empty[24].hex())
    cases = {
        "gonka-style 0..99": [(i, bytes([i])) for i in range(100)],
        "one leaf nonce 5": [(5, b"\x05")],
        "reversed 0..99": [(i, bytes([i])) for i in reversed(range(100))],
        "grows to 25 bits": [(3, b"\x03"), (1 << 24, b"\x04"), (7, b"\x07")],
        "negative (32 bits)": [(10, b"\x0a"), (-1, b"\xff"), (-2147483648, b"\x80")],
    }
    for name, arts in cases.items():
        t = Tree()
        for n, v in arts:
            t.insert(n, v)
        print(f"{name}: count={len(arts)} depth={t.depth} root={t.root_hash().hex()}")


if __name__ == "__main__":
    main()
