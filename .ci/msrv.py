#!/usr/bin/env python3
"""Checks the MSRV that Cargo.toml declares (`rust-version`) against what a user builds.

- Every crate a user's build pulls in (normal and build dependencies, with every user-facing
  feature on; dev-dependencies are ours alone) must declare a `rust-version` no newer than ours,
  or none.
- The crate's own use of newer std APIs is clippy's `incompatible_msrv` lint, which `.ci/run`
  runs with `-D warnings` (clippy reads `rust-version`).
- If a toolchain of exactly that version is installed (`rustup toolchain list`), the crate is
  also built with it.

Usage: .ci/msrv.py FEATURES
"""
import json
import subprocess
import sys


def version(v):
    return tuple(int(x) for x in v.split(".")[:3]) + (0,) * (3 - len(v.split(".")))


def main():
    features = sys.argv[1]
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--features", features]))
    packages = {p["id"]: p for p in meta["packages"]}
    root = meta["resolve"]["root"]
    ours = packages[root]["rust_version"]
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    seen, todo = set(), [root]
    while todo:
        node = nodes[todo.pop()]
        for dep in node["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if node["id"] == root and kinds <= {"dev"}:
                continue
            if dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    newer = sorted(
        f'{packages[p]["name"]} {packages[p]["version"]} needs Rust {packages[p]["rust_version"]}'
        for p in seen
        if packages[p]["rust_version"] and version(packages[p]["rust_version"]) > version(ours))
    print(f"rust-version {ours}: {len(seen)} crates in a user's build, "
          f"{len(newer)} declaring a newer Rust")
    for line in newer:
        print("  " + line)
    toolchains = subprocess.run(["rustup", "toolchain", "list"], capture_output=True, text=True)
    names = [t for t in toolchains.stdout.split()
             if t == ours or t.startswith(ours + "-") or t.startswith(ours + ".0-")
             or t == ours + ".0"]
    if names:
        subprocess.check_call(["cargo", f"+{names[0]}", "check", "--features", features])
        print(f"built with Rust {names[0]}")
    else:
        print(f"no Rust {ours} toolchain installed: not built with it (the checks above stand)")
    return 1 if newer else 0


if __name__ == "__main__":
    sys.exit(main())
