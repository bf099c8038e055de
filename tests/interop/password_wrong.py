#!/usr/bin/python3
"""interop.password_wrong: a wrong password ends main with ERROR_AUTH."""
import sys

import interop_common as ic


def steps(q, args):
    yield ic.probe_step("wrong password -> ERROR_AUTH", args.expect, port=q.port,
                        password="wrong-" + "secret", timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(ic.run("password_wrong", "auth-error", {"password": "secret"}, steps))
