#!/usr/bin/env python3
"""Writes DIR/image.json, the record of an image's identity by content
(docs/guest.md#image-identity): every regular file in DIR but the record
itself, with its size, modification time (ns) and SHA-256. clawfleet trusts
a recorded digest while the file keeps that size and time, so a plan reads
no image; any other change to a file makes it unknown until recorded again.

usage: record.py DIR VERSION   write DIR/image.json (atomically); a file
                               whose size and time match the record already
                               there keeps its digest without being read
       record.py --check DIR   read every recorded file whole and compare
                               (exit 1 on a difference): the full check
"""
import hashlib
import json
import os
import sys

RECORD = "image.json"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(directory):
    try:
        with open(os.path.join(directory, RECORD)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def check(directory):
    record = load(directory)
    if record is None:
        sys.exit("record.py: no %s in %s" % (RECORD, directory))
    bad = 0
    for name, want in sorted(record["files"].items()):
        path = os.path.join(directory, name)
        st = os.stat(path)
        if (st.st_size, st.st_mtime_ns) != (want["size"], want["mtimeNs"]):
            print("%s: size or modification time differs from the record" % path)
            bad = 1
        elif sha256(path) != want["sha256"]:
            print("%s: content differs from the record" % path)
            bad = 1
    if not bad:
        print("%s: %d files match %s" % (directory, len(record["files"]), RECORD))
    sys.exit(bad)


def write(directory, version):
    if len(version) > 128 or any(not (0x20 <= ord(c) < 0x7F) for c in version):
        sys.exit("record.py: VERSION must be at most 128 printable ASCII characters")
    old = (load(directory) or {}).get("files", {})
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name == RECORD or name.startswith(".") or not os.path.isfile(path) or os.path.islink(path):
            continue
        st = os.stat(path)
        was = old.get(name)
        if was and (was["size"], was["mtimeNs"]) == (st.st_size, st.st_mtime_ns):
            digest = was["sha256"]
        else:
            digest = sha256(path)
        files[name] = {"size": st.st_size, "mtimeNs": st.st_mtime_ns, "sha256": digest}
    tmp = os.path.join(directory, "." + RECORD + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"format": 1, "version": version, "files": files}, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(directory, RECORD))


if len(sys.argv) == 3 and sys.argv[1] == "--check":
    check(sys.argv[2])
elif len(sys.argv) == 3 and not sys.argv[1].startswith("-"):
    write(sys.argv[1], sys.argv[2])
else:
    sys.exit(__doc__)
