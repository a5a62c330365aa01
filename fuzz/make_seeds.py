#!/usr/bin/env python3
"""Seeds fuzz/corpus/decode_fuzzer with every packet of the little-endian golden pcaps,
each prefixed by the link-type index and two wire-length bytes the fuzz target reads."""
import glob, os, struct, sys

LINKTYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105]  # as in decode_fuzzer.cc
root = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(root, 'corpus', 'decode_fuzzer')
n = 0
for f in sorted(glob.glob(os.path.join(root, '..', 'tests', 'data', 'golden', '[lptx]*.pcap'))):
    b = open(f, 'rb').read()
    if len(b) < 24 or b[:4] != b'\xd4\xc3\xb2\xa1':
        continue
    lt = struct.unpack('<I', b[20:24])[0]
    if lt not in LINKTYPES:
        continue
    i = 24
    while i + 16 <= len(b):
        cap = struct.unpack('<I', b[i + 8:i + 12])[0]
        data = b[i + 16:i + 16 + cap]
        name = 'seed_%s_%03d' % (os.path.basename(f)[:3], n)
        open(os.path.join(out, name), 'wb').write(bytes([LINKTYPES.index(lt), 0, 0]) + data)
        n += 1
        i += 16 + cap
print(n, 'seeds written to', out, file=sys.stderr)
