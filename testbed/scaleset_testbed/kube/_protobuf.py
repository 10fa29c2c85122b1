"""Reading the protobuf bodies kubectl's typed clients send for built-in kinds (``kubectl create namespace``).

Why: kubectl's generator commands create built-in objects through client-go's typed clients, which send
``application/vnd.kubernetes.protobuf`` bodies (and accept JSON answers). Custom resources have no
protobuf form, and the emulator answers in JSON only; this reads the one built-in kind kubectl creates
that way here, a Namespace (the envelope and the ``k8s.io/api/core/v1`` message numbers as generated.proto
defines them). Anything else in protobuf gets 415, as a server that cannot decode it answers.
"""

from __future__ import annotations

from typing import Any

from scaleset_testbed.kube import _status as status

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"
_ACCEPTED = ("application/json", "application/yaml")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """``(field number, value)`` pairs of a message: ints for varints, bytes for length-delimited fields."""
    out: list[tuple[int, int | bytes]] = []
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(data, position)
            out.append((number, value))
        elif wire == 2:
            length, position = _varint(data, position)
            out.append((number, data[position : position + length]))
            position += length
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _text(value: int | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _entry(value: int | bytes) -> tuple[str, str]:
    pairs = dict(_fields(value)) if isinstance(value, bytes) else {}
    return _text(pairs.get(1, b"")), _text(pairs.get(2, b""))


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for number, value in _fields(data):
        if number in names and _text(value):
            meta[names[number]] = _text(value)
        elif number in (11, 12):
            key, text = _entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = text
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _namespace(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = _object_meta(value)
        elif number == 2 and isinstance(value, bytes):
            finalizers = [_text(v) for n, v in _fields(value) if n == 1]
            obj["spec"] = {"finalizers": finalizers} if finalizers else {}
    return obj


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded built-in object as JSON would carry it; 415 for anything but a Namespace."""
    try:
        if not body.startswith(_MAGIC):
            raise ValueError("no protobuf envelope")
        envelope = dict(_fields(body[len(_MAGIC) :]))
        type_meta = envelope.get(1)
        kinds = dict(_fields(type_meta)) if isinstance(type_meta, bytes) else {}
        raw = envelope.get(2)
        if _text(kinds.get(1, b"")) == "v1" and _text(kinds.get(2, b"")) == "Namespace" and isinstance(raw, bytes):
            return _namespace(raw)
    except (ValueError, UnicodeDecodeError):
        pass
    raise status.unsupported_media_type(_ACCEPTED)
