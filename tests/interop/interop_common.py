"""Shared driver for the interop scenario scripts.

What it proves: nothing by itself; it runs one scenario (QEMU from
qemu_harness + spice-gtk steps from spice_probe), prints one JSON line per step
and a summary line, and turns the outcome into exit 0 (all steps held) or 1
(a step failed, a peer is missing, QEMU misbehaved). Never a skip.

A scenario is a function steps(q, expect) -> iterable of (label, ok, details);
--expect overrides the expectation of the scenario's main step, so a run with
the inverted expectation must exit 1.
"""
import argparse
import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qemu_harness  # noqa: E402
import spice_probe  # noqa: E402


def parse_args(name, default_expect, argv):
    ap = argparse.ArgumentParser(description=f"interop scenario {name}")
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"),
                    help="dir holding libspice-server.so.1 (default $RS_SPICE_LIB_DIR)")
    ap.add_argument("--expect", default=default_expect, choices=spice_probe.EXPECTATIONS,
                    help=f"main step expectation (default {default_expect})")
    ap.add_argument("--timeout", type=float, default=10.0, help="per spice-gtk probe")
    return ap.parse_args(argv)


DEADLINE_S = 100   # below the ctest TIMEOUT (120 s), so QEMU is killed in a finally


def _deadline(_signum, _frame):
    raise TimeoutError(f"scenario exceeded {DEADLINE_S}s")


def probe_step(label, expect, **kwargs):
    """Run spice_probe.probe; return (label, ok, result)."""
    result = spice_probe.probe(expect=expect, **kwargs)
    return label, result["ok"], result


def run(name, default_expect, qemu_kwargs, steps, argv=None):
    """Entry point of a scenario script; returns the process exit code."""
    args = parse_args(name, default_expect, argv)
    t0 = time.monotonic()
    ok, failure = True, None
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(DEADLINE_S)
    try:
        spice_probe.load_spice()
        with qemu_harness.QemuSpice(lib_dir=args.lib_dir, **qemu_kwargs) as q:
            print(json.dumps({"scenario": name, "qemu": q.describe()}), flush=True)
            for label, step_ok, details in steps(q, args):
                print(json.dumps({"step": label, "ok": step_ok, "details": details},
                                 sort_keys=True), flush=True)
                if not step_ok:
                    ok, failure = False, failure or label
            time.sleep(0.3)   # a server that dies on the last disconnect fails too
            if q.proc.poll() is not None:
                ok, failure = False, failure or f"QEMU died (exit {q.proc.returncode})"
            if not ok:
                print(json.dumps({"qemu_exit": q.proc.poll(), "qemu_log": q.log_tail()}),
                      flush=True)
    except (qemu_harness.HarnessError, spice_probe.SpiceUnavailable, TimeoutError) as exc:
        ok, failure = False, f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
    summary = {"scenario": name, "ok": ok, "expect": args.expect,
               "elapsed_s": round(time.monotonic() - t0, 3)}
    if failure:
        summary["failed"] = failure
    print(json.dumps(summary), flush=True)
    if not ok:
        print(f"interop.{name}: FAIL ({failure})", file=sys.stderr)
    return 0 if ok else 1
