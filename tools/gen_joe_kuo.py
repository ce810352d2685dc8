#!/usr/bin/env python3
"""Extract Sobol' direction numbers for simforge from scipy's copy of Joe & Kuo's
"new-joe-kuo-6.21201" table (S. Joe and F. Y. Kuo, "Constructing Sobol sequences
with better two-dimensional projections", SIAM J. Sci. Comput. 30, 2635-2654, 2008).

Usage: pip download --no-deps scipy; unzip the wheel's
scipy/stats/_sobol_direction_numbers.npz; then
  python3 tools/gen_joe_kuo.py path/to/_sobol_direction_numbers.npz 1024 > \
      crates/simforge-core/src/design/data/joe_kuo.txt
Needs only the Python standard library (the .npz is parsed by hand).
"""
import ast
import struct
import sys
import zipfile


def load(z, name):
    b = z.read(name)
    assert b[:6] == b"\x93NUMPY", name
    if b[6] == 1:
        hl, off = struct.unpack("<H", b[8:10])[0], 10
    else:
        hl, off = struct.unpack("<I", b[8:12])[0], 12
    hdr = ast.literal_eval(b[off:off + hl].decode())
    assert hdr["descr"] == "<i8", hdr
    data = b[off + hl:]
    n = len(data) // 8
    return hdr, struct.unpack("<%dq" % n, data)


def main():
    path, dims = sys.argv[1], int(sys.argv[2])
    z = zipfile.ZipFile(path)
    ph, poly = load(z, "poly.npy")
    vh, vinit = load(z, "vinit.npy")
    rows, cols = vh["shape"]
    def v(j, k):
        return vinit[k * rows + j] if vh["fortran_order"] else vinit[j * cols + k]
    print("# Sobol' direction numbers, dimensions 2..%d: degree s, coefficients a, m_1..m_s" % dims)
    print("# Joe & Kuo (2008), new-joe-kuo-6.21201, via scipy/stats/_sobol_direction_numbers.npz;")
    print("# regenerate with tools/gen_joe_kuo.py.")
    for j in range(1, dims):
        p = poly[j]
        s = p.bit_length() - 1
        a = (p >> 1) & ((1 << (s - 1)) - 1) if s > 1 else 0
        ms = [v(j, k) for k in range(s)]
        print(s, a, *ms)


if __name__ == "__main__":
    main()
