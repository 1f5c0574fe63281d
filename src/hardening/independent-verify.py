#!/usr/bin/env python3
"""An audit-log verifier that shares no code with Clearance (Python, from the specifications only):
C2SP signed-note and tlog-checkpoint (Ed25519), C2SP tlog-tiles entry bundles, RFC 6962 hashing.

    independent-verify.py <tiles directory> <verifier key>

Prints one JSON object: {"ok": true, "size": N, "root": "<base64>", "request_ids": [...],
"admin_objects": ["<kind>:<id>", ...]} or
{"ok": false, "error": "..."} (exit 1). Needs the `cryptography` package for Ed25519.
"""
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def fail(why):
    print(json.dumps({"ok": False, "error": why}))
    sys.exit(1)


def parse_vkey(vkey):
    # <name>+<hex key id>+<base64(0x01 || 32-byte Ed25519 public key)>
    name, key_id, blob = vkey.strip().split("+", 2)  # names never hold "+"; base64 may
    raw = base64.b64decode(blob)
    if raw[0] != 0x01 or len(raw) != 33:
        fail("not an Ed25519 verifier key")
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if expected.hex() != key_id:
        fail("the verifier key's id does not match its key")
    return name, expected, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_checkpoint(text, vkey):
    name, key_id, public = parse_vkey(vkey)
    cut = text.find("\n\n")
    if cut < 0:
        fail("checkpoint: no signature block")
    message = text[: cut + 1].encode()
    verified = False
    for line in text[cut + 2 :].splitlines():
        if not line.startswith("\u2014 "):
            continue
        signer, sig = line[2:].split(" ", 1)
        raw = base64.b64decode(sig)
        if signer == name and raw[:4] == key_id:
            public.verify(raw[4:], message)  # raises on a bad signature
            verified = True
    if not verified:
        fail("checkpoint: no signature by the verifier key")
    body = text[: cut + 1].split("\n")
    return body[0], int(body[1]), base64.b64decode(body[2])


def tile_index(n):
    # C2SP tlog-tiles: decimal, three digits per path element, all but the last prefixed with x.
    s = str(n)
    s = "0" * ((3 - len(s) % 3) % 3) + s
    parts = [s[i : i + 3] for i in range(0, len(s), 3)]
    return "/".join(["x" + p for p in parts[:-1]] + [parts[-1]])


def entries(directory, size):
    out = []
    for i in range((size + 255) // 256):
        width = min(256, size - i * 256)
        path = os.path.join(directory, "tile", "entries", tile_index(i))
        if width < 256:
            path += ".p/%d" % width
        with open(path, "rb") as f:
            data = f.read()
        at = 0
        for _ in range(width):
            length = int.from_bytes(data[at : at + 2], "big")
            out.append(data[at + 2 : at + 2 + length])
            at += 2 + length
        if at != len(data):
            fail("entry bundle %s has trailing bytes" % path)
    return out


def root(leaves):
    # RFC 6962 2.1: MTH over leaf hashes SHA-256(0x00 || entry), nodes SHA-256(0x01 || l || r).
    level = [hashlib.sha256(b"\x00" + e).digest() for e in leaves]
    if not level:
        return hashlib.sha256(b"").digest()
    # Bottom-up with the RFC's split (largest power of two below n) is the same as carrying the
    # odd node up unchanged at each level.
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            nxt.append(hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest())
        if len(level) % 2 == 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def main():
    if len(sys.argv) != 3:
        fail("usage: independent-verify.py <tiles directory> <verifier key>")
    directory, vkey = sys.argv[1], sys.argv[2]
    with open(os.path.join(directory, "checkpoint"), encoding="utf-8") as f:
        text = f.read()
    try:
        origin, size, claimed = open_checkpoint(text, vkey)
    except Exception as err:  # noqa: BLE001 - any failure to verify is a failed verification
        fail("checkpoint: %s" % err)
    leaves = entries(directory, size)
    computed = root(leaves)
    if computed != claimed:
        fail("root mismatch at size %d" % size)
    ids, objects = [], []
    for e in leaves:
        doc = json.loads(e)
        if doc.get("type") == "decision":
            ids.append(doc["request_id"])
        elif doc.get("type") == "admin":
            objects.append("%s:%s" % (doc["object"]["kind"], doc["object"]["id"]))
    result = {"ok": True, "origin": origin, "size": size, "root": base64.b64encode(computed).decode()}
    print(json.dumps({**result, "request_ids": ids, "admin_objects": objects}))


main()
