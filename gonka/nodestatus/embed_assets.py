#!/usr/bin/env python3
"""Writes a C++ source defining FindStatusPageAsset() over the given files (build time only).

usage: embed_assets.py OUT.cc FILE...   (content type from the file's extension)
"""
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def main():
    out, files = sys.argv[1], sys.argv[2:]
    lines = ['#include "gonka/nodestatus/status_page.h"', "", "namespace gonka {",
             "namespace nodestatus {", "namespace {", ""]
    entries = []
    for i, path in enumerate(files):
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            sys.exit(f"embed_assets: {path}: unknown extension {ext}")
        data = open(path, "rb").read()
        # Octal escapes are at most three digits, so no byte can run into the next one.
        chunks = ["".join(f"\\{b:03o}" for b in data[j:j + 64]) for j in range(0, len(data), 64)]
        body = "\n".join(f'    "{c}"' for c in chunks) or '    ""'
        lines.append(f"const char kAsset{i}[] =\n{body};")
        entries.append(f'    {{"{name}", "{TYPES[ext]}", absl::string_view(kAsset{i}, {len(data)})}},')
    lines += ["", "const StatusPageAsset kAssets[] = {"] + entries + ["};", "", "}  // namespace", "",
              "const StatusPageAsset* FindStatusPageAsset(absl::string_view name) {",
              "  for (const StatusPageAsset& a : kAssets) {",
              "    if (a.name == name) return &a;", "  }", "  return nullptr;", "}", "",
              "}  // namespace nodestatus", "}  // namespace gonka", ""]
    with open(out, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
