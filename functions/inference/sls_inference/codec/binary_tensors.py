"""The binary tensor data extension of the KServe v2 / Triton HTTP protocol, for requests.

Triton's HTTP client sends input tensors as raw bytes by default: the body is the JSON inference request
(its length in the `Inference-Header-Content-Length` header) followed by each input's bytes, in input order,
for every input whose `parameters.binary_data_size` says how many. This module turns such a body back into
the plain OIP request `codec.decode_request` reads (each binary input gets its `data`). Answers stay JSON:
a client that asked for binary outputs reads JSON `data` as well (the extension lets a server choose).

Pure, no I/O. Raises RequestError for bodies that do not match their declared sizes.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ..signature import OIP_TO_DTYPE
from .body import parse_json
from .errors import RequestError

HEADER = "inference-header-content-length"  # HTTP header names arrive lowercased


def decode_request(body: bytes | str, header_length: str) -> Any:
    """The JSON request of a binary-extension body, with the binary inputs' `data` filled in."""
    raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else bytes(body)
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(raw):
        raise RequestError(
            f"Inference-Header-Content-Length is {header_length!r} but the body has {len(raw)} bytes",
            field="headers.inference-header-content-length",
            expected=f"the length of the JSON part, at most {len(raw)}",
        )
    payload = parse_json(raw[:length])
    tail = memoryview(raw)[length:]
    offset = 0
    items = payload.get("inputs") if isinstance(payload, dict) else None
    for index, item in enumerate(items if isinstance(items, list) else []):
        parameters = item.get("parameters") if isinstance(item, dict) else None
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        if size is None:
            continue
        where = f"inputs[{index}]"
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(tail):
            raise RequestError(
                f"{where} declares binary_data_size {size!r} but only {len(tail) - offset} bytes of binary "
                "data are left in the body",
                field=f"{where}.parameters.binary_data_size",
                expected=f"at most {len(tail) - offset}",
            )
        item["data"] = _values(bytes(tail[offset : offset + size]), item.get("datatype"), where)
        offset += size
    if offset != len(tail):
        raise RequestError(
            f"the body has {len(tail) - offset} bytes of binary data that no input's binary_data_size claims",
            field="body",
            expected=f"{offset} bytes after the JSON part",
        )
    return payload


def _values(chunk: bytes, datatype: Any, where: str) -> Any:
    """One input's raw bytes as values: a flat array, or a list of str for BYTES (4-byte length prefixes)."""
    if datatype == "BYTES":
        values, position = [], 0
        while position < len(chunk):
            if position + 4 > len(chunk):
                raise _bad(where, "a BYTES element's 4-byte length prefix is cut off")
            (size,) = struct.unpack_from("<I", chunk, position)
            position += 4
            if position + size > len(chunk):
                raise _bad(where, "a BYTES element is longer than the data left")
            try:
                values.append(chunk[position : position + size].decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _bad(where, "a BYTES element is not UTF-8 text") from exc
            position += size
        return values
    name = OIP_TO_DTYPE.get(str(datatype))
    if name is None:
        raise RequestError(
            f"{where} has datatype {datatype!r}, which has no binary form here",
            field=f"{where}.datatype",
            expected=sorted(OIP_TO_DTYPE),
        )
    dtype = np.dtype(name).newbyteorder("<")
    if len(chunk) % dtype.itemsize:
        raise _bad(where, f"{len(chunk)} bytes are not a whole number of {datatype} values")
    return np.frombuffer(chunk, dtype=dtype).astype(dtype.newbyteorder("="), copy=False)


def _bad(where: str, why: str) -> RequestError:
    return RequestError(f"{where}: {why}", field=f"{where}.parameters.binary_data_size")
