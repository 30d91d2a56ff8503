"""Cross-check: the header violations that Tests/ModelIOTests/SafetensorsValidationTests.swift expects ModelIO
to reject, fed to the reference implementation (the Rust `safetensors` crate behind the Python package).
Prints, per case, whether the reference rejects it and its message.
Last run (safetensors 0.8.0): the reference rejects every case ModelIO rejects, except a duplicate tensor name
whose two entries are identical, which serde silently collapses (ModelIO rejects every duplicate name). Run: python3 scripts/checks/safetensors_reference_rejections.py
"""
import os
import struct
import tempfile

from safetensors import safe_open


def f32(*values):
    return b"".join(struct.pack("<f", v) for v in values)


def st(header, data, declared=None):
    h = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(h) if declared is None else declared) + h + data


T = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
cases = {
    "valid": st(T, f32(1, 2)),
    "valid, header padded with spaces": st(T + "    ", f32(1, 2)),
    "zero-size file": b"",
    "shorter than prefix": b"\x01\x00\x00",
    "prefix beyond file": st("{}", b"", declared=50),
    "header over 100 MB": st("{}", b"", declared=100_000_001),
    "non-UTF-8 header": st(T.encode().replace(b'"a"', b'"\xff"'), f32(1, 2)),
    "header not object": st("[1,2]", b""),
    "valid, leading whitespace": st(" {}", b""),
    "duplicate name, same offsets": st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32(1, 2)),
    "negative offset": st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}', f32(1, 2)),
    "negative shape": st('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', f32(1, 2)),
    "overflowing offset": st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]}}', f32(1, 2)),
    "overflowing element count": st('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', f32(1, 2)),
    "fractional shape": st('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', f32(1, 2)),
    "reversed offsets": st('{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', f32(1, 2)),
    "overlap": st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', f32(1, 2, 3)),
    "out of bounds": st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', f32(1, 2, 3)),
    "shape x dtype != span": st('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', f32(1, 2)),
    "sub-byte misaligned": st('{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', b"\0\0"),
    "trailing bytes": st(T, f32(1, 2) + b"\0\0\0"),
    "hole between": st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', f32(1, 2, 3)),
    "hole at start": st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32(1, 2)),
    "duplicate name": st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32(1, 2)),
    "metadata not string map": st('{"__metadata__":{"format":"pt","n":3},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32(1, 2)),
    "unknown dtype": st('{"a":{"dtype":"F48","shape":[2],"data_offsets":[0,8]}}', f32(1, 2)),
    "missing dtype": st('{"a":{"shape":[2],"data_offsets":[0,8]}}', f32(1, 2)),
}

with tempfile.TemporaryDirectory() as d:
    for name, data in cases.items():
        p = os.path.join(d, "x.safetensors")
        with open(p, "wb") as f:
            f.write(data)
        try:
            with safe_open(p, "np") as f:
                keys = list(f.keys())
            print(f"{name:34s} ACCEPTED by reference (tensors {keys})")
        except Exception as e:  # noqa: BLE001
            print(f"{name:34s} rejected: {type(e).__name__}: {str(e)[:90]}")
