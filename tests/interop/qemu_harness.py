#!/usr/bin/python3
"""Run QEMU 7.2 with a chosen libspice-server.so.1 and check it from outside.

What it proves: the QEMU process under test really mapped the
libspice-server.so.1 from --lib-dir (checked in /proc/<pid>/maps, not assumed
from LD_LIBRARY_PATH), its SPICE port(s) listen on 127.0.0.1, and a check
(a Python callable, or a command in CLI mode) ran against it. QEMU is always
killed at the end, on success, failure, exception or timeout.

Module:  with QemuSpice(lib_dir, password="pw") as q: probe(port=q.port, ...)
CLI:     qemu_harness.py [--lib-dir D] [--password PW] [--tls] [--tls-channel C]
                         [--no-plain] -- CMD ARGS...
         CMD may use {port} {tls_port} {ca_file} {host_subject}; they are also
         exported as RS_SPICE_PORT, RS_SPICE_TLS_PORT, RS_SPICE_CA_FILE,
         RS_SPICE_HOST_SUBJECT. Exit status: CMD's, or 4 if the harness failed.

A missing peer (qemu binary, library file) is a failure, never a skip.
"""
import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True

QEMU = os.environ.get("RS_QEMU", "qemu-system-x86_64")
LIB_NAME = "libspice-server.so.1"
HOST = "127.0.0.1"
HOST_SUBJECT = "CN=127.0.0.1"
EXIT_HARNESS = 4


def _die_with_parent():
    """preexec_fn: QEMU gets SIGKILL if this harness dies (e.g. ctest timeout kill)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG


class HarnessError(RuntimeError):
    """The environment or QEMU is not what the test needs; the test fails."""


def default_lib_dir():
    d = os.environ.get("RS_SPICE_LIB_DIR")
    if not d:
        raise HarnessError("no library dir: pass --lib-dir or set RS_SPICE_LIB_DIR")
    return d


def free_ports(n):
    """n distinct free loopback TCP ports (held open together while picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def listening(port):
    """True when 127.0.0.1:port is in LISTEN state (no connection is made)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return True
    return False


def mapped_spice_libs(pid):
    """[(path, inode)] of libspice-server files mapped by pid."""
    found = {}
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and "libspice-server" in fields[5]:
                found[fields[5].strip()] = int(fields[4])
    return sorted(found.items())


def check_mapped_lib(pid, lib_dir):
    """Fail unless pid mapped exactly the libspice-server.so.1 of lib_dir."""
    expected = os.path.realpath(os.path.join(lib_dir, LIB_NAME))
    inode = os.stat(expected).st_ino
    libs = mapped_spice_libs(pid)
    if len(libs) == 1 and (libs[0][0] == expected or libs[0][1] == inode):
        return libs[0][0]
    raise HarnessError(f"QEMU pid {pid} mapped {libs or 'no libspice-server'}, "
                       f"expected {expected} (inode {inode}) from {lib_dir}")


def _openssl(path, *args):
    if not shutil.which("openssl"):
        raise HarnessError("openssl CLI not found")
    r = subprocess.run(["openssl", *args], cwd=path, capture_output=True,
                       text=True, timeout=60)
    if r.returncode:
        raise HarnessError(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")


def make_ca(path):
    """A fresh self-signed CA in path; returns the ca-cert.pem path."""
    _openssl(path, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", "ca-key.pem", "-out", "ca-cert.pem", "-subj", "/CN=ringspice test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return os.path.join(path, "ca-cert.pem")


def make_tls_dir(path, cn="127.0.0.1"):
    """CA + server cert/key (CN and SAN IP = cn) in path with QEMU's file names."""
    def ssl(*args):
        _openssl(path, *args)
    make_ca(path)
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem",
        "-out", "server.csr", "-subj", f"/CN={cn}")
    with open(os.path.join(path, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName=IP:{cn}\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca-cert.pem", "-CAkey", "ca-key.pem",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server-cert.pem")
    return os.path.join(path, "ca-cert.pem")


class QemuSpice:
    """Context manager: a QEMU with SPICE on free loopback ports, killed on exit.

    password: sets password-secret (else disable-ticketing=on).
    tls: generate certs, add tls-port + x509-dir; plain=False drops the plain port.
    tls_channels: names for tls-channel= (e.g. ["main"] or ["default"]).
    """

    def __init__(self, lib_dir=None, password=None, tls=False, plain=True,
                 tls_channels=(), start_timeout=30.0, extra_spice=()):
        self.lib_dir = os.path.abspath(lib_dir or default_lib_dir())
        self.password, self.tls, self.plain = password, tls, plain
        self.tls_channels, self.extra_spice = list(tls_channels), list(extra_spice)
        self.start_timeout = start_timeout
        self.port = self.tls_port = self.ca_file = None
        self.host_subject = HOST_SUBJECT
        self.proc = self.tmp = self.log = None
        self.mapped_lib = None
        self.boot_s = None

    def preflight(self):
        if not shutil.which(QEMU):
            raise HarnessError(f"{QEMU} not found (install qemu-system-x86)")
        lib = os.path.join(self.lib_dir, LIB_NAME)
        if not os.path.exists(lib):
            raise HarnessError(f"{lib} does not exist (build it, or point "
                               "RS_SPICE_LIB_DIR / --lib-dir at the reference)")

    def spice_arg(self):
        opts = [f"addr={HOST}"]
        if self.plain:
            opts.append(f"port={self.port}")
        if self.tls:
            opts += [f"tls-port={self.tls_port}", f"x509-dir={self.tmp}"]
            opts += [f"tls-channel={c}" for c in self.tls_channels]
        opts.append("password-secret=sec0" if self.password is not None
                    else "disable-ticketing=on")
        return ",".join(opts + self.extra_spice)

    def command(self):
        cmd = [QEMU, "-accel", "tcg", "-m", "128", "-nic", "none", "-vga", "qxl",
               "-display", "none"]
        if self.password is not None:
            cmd += ["-object", f"secret,id=sec0,data={self.password}"]
        return cmd + ["-spice", self.spice_arg()]

    def start(self):
        self.preflight()
        self.tmp = tempfile.mkdtemp(prefix="rs-interop-")
        if self.tls:
            self.ca_file = make_tls_dir(self.tmp)
        self.port, self.tls_port = free_ports(2)
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (self.lib_dir, env.get("LD_LIBRARY_PATH")) if p)
        self.log = open(os.path.join(self.tmp, "qemu.log"), "w+")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command(), env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.wait_listening()
        self.boot_s = round(time.monotonic() - t0, 3)
        self.mapped_lib = check_mapped_lib(self.proc.pid, self.lib_dir)

    def wait_listening(self):
        ports = ([self.port] if self.plain else []) + ([self.tls_port] if self.tls else [])
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"QEMU exited with {self.proc.returncode}: {self.log_tail()}")
            if all(listening(p) for p in ports):
                return
            time.sleep(0.05)
        raise HarnessError(f"SPICE ports {ports} not listening after "
                           f"{self.start_timeout}s: {self.log_tail()}")

    def log_tail(self, n=2000):
        if not self.log:
            return ""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-n:].strip()

    def stop(self):
        """Kill QEMU (its whole process group) and remove the temp dir."""
        if self.proc and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.log:
            self.log.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def describe(self):
        return {"qemu_pid": self.proc.pid if self.proc else None, "port": self.port if self.plain
                else None, "tls_port": self.tls_port if self.tls else None,
                "mapped_lib": self.mapped_lib, "boot_s": self.boot_s,
                "spice": self.spice_arg() if self.port else None}


def run(check, **qemu_kwargs):
    """Start QEMU, return check(q), always kill QEMU."""
    with QemuSpice(**qemu_kwargs) as q:
        return check(q)


def _cli_check(cmd, timeout):
    def check(q):
        subst = {"port": q.port if q.plain else "", "tls_port": q.tls_port if q.tls else "",
                 "ca_file": q.ca_file or "", "host_subject": q.host_subject}
        env = dict(os.environ, **{f"RS_SPICE_{k.upper()}": str(v) for k, v in subst.items()})
        argv = [a.format(**subst) for a in cmd]
        print(f"qemu_harness: {q.describe()}", file=sys.stderr)
        try:
            return subprocess.run(argv, env=env, timeout=timeout,
                                  preexec_fn=_die_with_parent).returncode
        except subprocess.TimeoutExpired:
            print(f"qemu_harness: {argv[0]} timed out after {timeout}s", file=sys.stderr)
            return 2
    return check


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib-dir", default=os.environ.get("RS_SPICE_LIB_DIR"))
    ap.add_argument("--password")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--no-plain", action="store_true")
    ap.add_argument("--tls-channel", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=60.0, help="for CMD")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("missing CMD after --")
    try:
        return run(_cli_check(cmd, args.timeout), lib_dir=args.lib_dir,
                   password=args.password, tls=args.tls, plain=not args.no_plain,
                   tls_channels=args.tls_channel)
    except HarnessError as exc:
        print(f"qemu_harness: FAIL: {exc}", file=sys.stderr)
        return EXIT_HARNESS


if __name__ == "__main__":
    sys.exit(main())
