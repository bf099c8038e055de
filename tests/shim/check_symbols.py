#!/usr/bin/python3
"""Checks that our libspice-server.so.1 exports the reference's ABI.

QEMU resolves each spice_* function as name@version-node, so the test compares
the set of defined dynamic symbols as (version node, name) pairs, the chain of
version definitions (each node and the node it inherits from) and the SONAME,
against Debian's reference library. Anything missing, extra or under another
node fails. A missing reference library or objdump fails too: skipping would
hide that the contract is unchecked.

usage: check_symbols.py OUR_LIB [REFERENCE_LIB] [--objdump PATH]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

REFERENCE = "/lib/x86_64-linux-gnu/libspice-server.so.1"
SONAME = "libspice-server.so.1"

# objdump -T: address, 7 flag characters, section, size, then
# "[version] name" where a hidden version is shown in parentheses.
DYNSYM = re.compile(r"^([0-9a-fA-F]+) (.{7}) (\S+)\s+([0-9a-fA-F]+)\s+(.*)$")


def fail(msg):
    print(f"check_symbols: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run(objdump, flag, lib):
    proc = subprocess.run([objdump, flag, lib], capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"'{objdump} {flag} {lib}' exited with {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def defined_symbols(objdump, lib):
    """(version, name) for every defined dynamic symbol, minus the version
    definitions themselves (ld emits each node as an *ABS* symbol)."""
    out = set()
    for line in run(objdump, "-T", lib).splitlines():
        m = DYNSYM.match(line)
        if not m:
            continue
        section, rest = m.group(3), m.group(5).split()
        if section == "*UND*" or not rest:
            continue
        name = rest[-1]
        version = rest[-2] if len(rest) >= 2 else ""
        if section == "*ABS*" and version == name:
            continue
        out.add((version, name))
    return out


def version_chain(objdump, lib):
    """[(node, (parents...))] from 'Version definitions', minus the base
    entry that only names the file."""
    nodes, in_defs = [], False
    for line in run(objdump, "-p", lib).splitlines():
        if line.startswith("Version definitions:"):
            in_defs = True
            continue
        if not in_defs:
            continue
        if not line.strip() or line.startswith("Version References"):
            break
        head = re.match(r"^\d+\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(\S+)", line)
        if head:
            is_base = int(head.group(1), 16) & 0x1
            nodes.append([head.group(2), [], is_base])
        elif nodes:
            nodes[-1][1].extend(line.split())
    return [(n, tuple(p)) for n, p, base in nodes if not base]


def soname(objdump, lib):
    for line in run(objdump, "-p", lib).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "SONAME":
            return parts[1]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("reference", nargs="?", default=REFERENCE)
    ap.add_argument("--objdump", default="objdump")
    args = ap.parse_args()

    objdump = shutil.which(args.objdump)
    if objdump is None:
        fail(f"objdump not found ('{args.objdump}'); install binutils")
    if not os.path.exists(args.reference):
        fail(f"reference library {args.reference} is missing; install Debian's "
             "libspice-server1 (apt-get install libspice-server1)")
    if not os.path.exists(args.ours):
        fail(f"our library {args.ours} is missing; build the spice-server target first")

    errors = []
    ref, ours = defined_symbols(objdump, args.reference), defined_symbols(objdump, args.ours)
    if not ref:
        fail(f"no versioned symbols read from {args.reference}; is it a spice-server library?")
    for version, name in sorted(ref - ours):
        errors.append(f"missing: {name}@{version}")
    for version, name in sorted(ours - ref):
        errors.append(f"extra:   {name}@{version or '(unversioned)'}")

    ref_chain, our_chain = version_chain(objdump, args.reference), version_chain(objdump, args.ours)
    if ref_chain != our_chain:
        errors.append(f"version nodes differ:\n  reference: {ref_chain}\n  ours:      {our_chain}")

    our_soname = soname(objdump, args.ours)
    if our_soname != SONAME:
        errors.append(f"SONAME is {our_soname!r}, expected {SONAME!r}")

    if errors:
        fail(f"{args.ours} does not match {args.reference}:\n  " + "\n  ".join(errors))
    print(f"check_symbols: OK: {len(ours)} symbols in {len(our_chain)} version nodes, "
          f"SONAME {our_soname}")


if __name__ == "__main__":
    main()
