"""Compares two binary PPM (P6, maxval 255) images pixel by pixel.

Used to check a client's screenshot (spicy-screenshot writes P6) against the
demo's own rendering of its primary surface (ringspice-demo --dump-primary).

    compare_ppm.py A.ppm B.ppm [--max-diff N]

Prints the size, the number of differing pixels and, if any, the first few
differences and their bounding box. Exit status 0 when the images have the
same size and at most N (default 0) pixels differ, 1 otherwise, 2 on a bad
file.
"""
import argparse
import sys


def read_ppm(path):
    """Returns (width, height, bytes of RGB rows) of a P6 PPM with maxval 255."""
    with open(path, "rb") as f:
        data = f.read()
    tokens = []
    i = 0
    while len(tokens) < 4:
        while i < len(data) and data[i:i + 1].isspace():
            i += 1
        if data[i:i + 1] == b"#":
            while i < len(data) and data[i:i + 1] != b"\n":
                i += 1
            continue
        j = i
        while j < len(data) and not data[j:j + 1].isspace():
            j += 1
        if j == i:
            raise ValueError(f"{path}: truncated header")
        tokens.append(data[i:j])
        i = j
    i += 1  # the single whitespace after maxval
    magic, width, height, maxval = tokens[0], int(tokens[1]), int(tokens[2]), int(tokens[3])
    if magic != b"P6" or maxval != 255:
        raise ValueError(f"{path}: not a P6 PPM with maxval 255 ({magic!r}, {maxval})")
    pixels = data[i:i + width * height * 3]
    if len(pixels) != width * height * 3:
        raise ValueError(f"{path}: {len(pixels)} bytes of pixels, expected {width * height * 3}")
    return width, height, pixels


def compare(a, b):
    """Returns (differing pixel count, list of first differences, bounding box or None)."""
    (wa, ha, pa), (_, _, pb) = a, b
    if pa == pb:
        return 0, [], None
    count = 0
    first = []
    left, top, right, bottom = wa, ha, -1, -1
    row_bytes = wa * 3
    for y in range(ha):
        ra = pa[y * row_bytes:(y + 1) * row_bytes]
        rb = pb[y * row_bytes:(y + 1) * row_bytes]
        if ra == rb:
            continue
        for x in range(wa):
            ca = ra[x * 3:x * 3 + 3]
            cb = rb[x * 3:x * 3 + 3]
            if ca != cb:
                count += 1
                left, top = min(left, x), min(top, y)
                right, bottom = max(right, x), max(bottom, y)
                if len(first) < 10:
                    first.append((x, y, ca.hex(), cb.hex()))
    return count, first, (left, top, right + 1, bottom + 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--max-diff", type=int, default=0, help="differing pixels tolerated (default 0)")
    args = ap.parse_args()
    try:
        a = read_ppm(args.a)
        b = read_ppm(args.b)
    except (OSError, ValueError) as e:
        print(f"compare_ppm: {e}")
        return 2
    if a[:2] != b[:2]:
        print(f"compare_ppm: DIFFERENT SIZE {a[0]}x{a[1]} vs {b[0]}x{b[1]}")
        return 1
    count, first, box = compare(a, b)
    print(f"compare_ppm: {a[0]}x{a[1]}, {count} of {a[0] * a[1]} pixels differ")
    for x, y, ca, cb in first:
        print(f"  ({x},{y}): {ca} vs {cb}")
    if box:
        print(f"  differences within [{box[0]},{box[1]})-[{box[2]},{box[3]})")
    ok = count <= args.max_diff
    print("compare_ppm:", "SAME" if ok else "DIFFERENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
