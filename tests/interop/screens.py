"""Screenshots through the real client (spicy-screenshot) and their comparison.

What it proves: nothing by itself; display tests use it to capture what a
spice-gtk client shows and to compare two captures pixel for pixel.
"""
import os
import shutil
import subprocess
import tempfile
import time


class ScreenError(RuntimeError):
    pass


def read_ppm(path):
    """(width, height, rgb bytes) of a binary PPM (P6, maxval 255)."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ScreenError(f"{path}: not a P6/255 PPM")
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + w * h * 3]
    if len(pixels) != w * h * 3:
        raise ScreenError(f"{path}: truncated PPM")
    return w, h, pixels


def differing_pixels(a, b):
    """Pixels that differ between two (w, h, rgb) images; -1 if sizes differ."""
    if a[0] != b[0] or a[1] != b[1]:
        return -1
    pa, pb = a[2], b[2]
    return sum(1 for i in range(0, len(pa), 3) if pa[i:i + 3] != pb[i:i + 3])


def distinct_colours(img):
    px = img[2]
    return len({px[i:i + 3] for i in range(0, len(px), 3)})


def screenshot(port, out_dir, name, timeout=20.0, password=None):
    """Capture what spicy-screenshot shows on 127.0.0.1:port; returns the image."""
    tool = shutil.which("spicy-screenshot")
    if not tool:
        raise ScreenError("spicy-screenshot not found (install spice-client-gtk)")
    path = os.path.join(out_dir, f"{name}.ppm")
    cmd = [tool, "-h", "127.0.0.1", "-p", str(port), "-o", path]
    if password:
        cmd += ["-w", password]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 or not os.path.exists(path):
        raise ScreenError(f"spicy-screenshot failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return read_ppm(path)


def screenshots(port, n, gap_s, out_dir, name):
    """n captures, gap_s apart (a blinking text cursor has two phases)."""
    shots = []
    for i in range(n):
        shots.append(screenshot(port, out_dir, f"{name}-{i}"))
        time.sleep(gap_s)
    return shots


def tmpdir():
    return tempfile.mkdtemp(prefix="rs-screens-")
