#!/usr/bin/env python3
"""Writes every frame of classic pcap files as a decoder-fuzzer seed: one byte naming the link
type (its index in tests/fuzz/decode_fuzzer.cpp), then the frame.

    fuzz-seed-frames.py OUT_DIR CAPTURE...
"""
import os
import struct
import sys

# DLT -> index into decode_fuzzer.cpp's link_types
LINK_INDEX = {1: 0, 113: 1, 276: 2, 12: 3, 101: 3, 228: 4, 229: 5, 0: 6, 108: 7, 14: 8,
              9: 9, 50: 10, 104: 11, 105: 12, 119: 13, 127: 14, 7: 15, 129: 16, 149: 17,
              163: 18, 178: 19, 239: 20, 242: 21, 258: 22}


def frames(path):
    with open(path, "rb") as f:
        header = f.read(24)
        if len(header) < 24:
            return
        magic = header[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            order = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            order = ">"
        else:
            return  # pcapng or not a capture
        link = struct.unpack(order + "I", header[20:24])[0] & 0x0FFFFFFF
        if link not in LINK_INDEX:
            return
        while True:
            record = f.read(16)
            if len(record) < 16:
                return
            captured = struct.unpack(order + "I", record[8:12])[0]
            data = f.read(captured)
            if len(data) < captured:
                return
            yield LINK_INDEX[link], data


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    count = 0
    for path in sys.argv[2:]:
        for index, data in frames(path):
            with open(os.path.join(out, "%s-%d" % (os.path.basename(path), count)), "wb") as f:
                f.write(bytes([index]) + data)
            count += 1
    print("%d decoder seeds" % count)


if __name__ == "__main__":
    main()
