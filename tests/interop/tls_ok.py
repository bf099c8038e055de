#!/usr/bin/python3
"""interop.tls_ok: spice-gtk links main over TLS with certificate verification ON.

QEMU has only a tls-port (x509-dir with a CA and a server cert for
CN/SAN 127.0.0.1, made with openssl at test time). Steps:
1. trusting the CA, default hostname verification: main opens, over TLS;
2. same with host-subject verification ("CN=127.0.0.1"): main opens;
3. trusting another CA: ERROR_TLS (so verification really is on).
"""
import os
import sys

import interop_common as ic
import qemu_harness


def tls_probe(label, expect, q, args, **kwargs):
    label, ok, res = ic.probe_step(label, expect, tls_port=q.tls_port,
                                   timeout=args.timeout, **kwargs)
    main = res["channels"].get("main:0", {})
    if expect == "connected" and main.get("tls") is not True:
        ok, res["why"] = False, "main did not go through the TLS port"
    return label, ok, res


def steps(q, args):
    yield tls_probe("TLS, hostname verification", args.expect, q, args, ca_file=q.ca_file)
    yield tls_probe("TLS, subject verification", "connected", q, args,
                    ca_file=q.ca_file, host_subject=q.host_subject)
    other = os.path.join(q.tmp, "other")
    os.mkdir(other)
    yield tls_probe("TLS, untrusted CA", "tls-error", q, args,
                    ca_file=qemu_harness.make_ca(other))


if __name__ == "__main__":
    sys.exit(ic.run("tls_ok", "connected", {"tls": True, "plain": False}, steps))
