#!/usr/bin/python3
"""Holds the Firecracker config files clawfleet renders to Firecracker's own
API specification (shared/reference/firecracker/firecracker.yaml, swagger
2.0), with an independent validator (Debian's python3-jsonschema).

The golden files in tests/golden/firecracker/ are exactly what
src/host/vmm/firecracker.cc writes (tests/unit/firecracker_test.cc holds the
code to them); here each must validate as a FullVmConfiguration with every
field the spec requires, and with no field the spec does not define
(Firecracker rejects unknown fields, so additionalProperties is false
throughout). Firecracker's sample configs are checked too, and a self-test
proves the check catches an unknown field, a missing required field and a
wrong type. Run with /usr/bin/python3. Prints one line per case and
`N passed, N failed` last; exits 1 on any failure, 77 (skipped) when the
reference is absent."""
import argparse
import copy
import json
import pathlib
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:  # a clear message instead of a traceback
    print(f"check_firecracker_config: {e}; install python3-jsonschema and python3-yaml")
    print("0 passed, 1 failed")
    sys.exit(1)

REPO = pathlib.Path(__file__).resolve().parents[2]
SKIPPED = 77  # CTest's SKIP_RETURN_CODE for this test


class Loader(yaml.SafeLoader):
    """YAML 1.2 booleans only: swagger's `enum: [..., Off]` stays the string "Off"."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))

# Keys of a schema object whose values are maps of names to schemas (a
# property may be called anything, even "x-...").
NAMED_SCHEMAS = ("properties", "definitions", "patternProperties")


def schema_walk(node, fn):
    """Applies fn to every schema object in a swagger schema tree."""
    if isinstance(node, list):
        for n in node:
            schema_walk(n, fn)
        return
    if not isinstance(node, dict):
        return
    fn(node)
    for key, value in node.items():
        if key in NAMED_SCHEMAS and isinstance(value, dict):
            for sub in value.values():
                schema_walk(sub, fn)
        elif key in ("items", "additionalProperties", "not") or key in ("allOf", "anyOf", "oneOf"):
            schema_walk(value, fn)


def build_schema(spec, nullable_optionals):
    """A draft-4 schema for FullVmConfiguration from swagger `definitions`.

    Strict for additional properties. With nullable_optionals, a property
    the spec does not require may also be null, as Firecracker's serde
    accepts and as its own GET /vm/config and sample files write."""
    definitions = copy.deepcopy(spec["definitions"])

    def adapt(s):
        for key in [k for k in s if k.startswith("x-")]:
            del s[key]  # vendor extensions are not JSON Schema
        if "properties" in s and "additionalProperties" not in s:
            s["additionalProperties"] = False
        if nullable_optionals and "properties" in s:
            required = set(s.get("required", []))
            for name, prop in list(s["properties"].items()):
                if name not in required:
                    s["properties"][name] = {"anyOf": [{"type": "null"}, prop]}

    for d in definitions.values():
        schema_walk(d, adapt)
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "definitions": definitions,
        "$ref": "#/definitions/FullVmConfiguration",
    }


def shown(path):
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def where(error):
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path or "(top level)"


def errors_of(validator, doc):
    return [f"{where(e)}: {e.message}" for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=pathlib.Path, default=REPO.parent / "shared")
    ap.add_argument("--golden", type=pathlib.Path, default=REPO / "tests/golden/firecracker")
    args = ap.parse_args()

    reference = args.shared / "reference/firecracker"
    if not args.shared.is_dir():
        print(f"SKIP: {args.shared} not found (a user's clone has none)")
        return SKIPPED
    spec_path = reference / "firecracker.yaml"
    passed = failed = 0

    def report(ok, name, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok {name}")
        else:
            failed += 1
            print(f"FAIL {name}{': ' + detail if detail else ''}")

    try:
        spec = yaml.load(spec_path.read_text(), Loader=Loader)
        strict = jsonschema.Draft4Validator(build_schema(spec, nullable_optionals=False))
        lenient = jsonschema.Draft4Validator(build_schema(spec, nullable_optionals=True))
        jsonschema.Draft4Validator.check_schema(strict.schema)
    except (OSError, yaml.YAMLError, KeyError, jsonschema.SchemaError) as e:
        report(False, str(spec_path), f"cannot build a schema: {e}")
        print(f"{passed} passed, {failed} failed")
        return 1

    # The spec must still say what we rely on it to say.
    defs = spec["definitions"]
    for name, fields in {
        "BootSource": {"kernel_image_path"},
        "Drive": {"drive_id", "is_root_device"},
        "NetworkInterface": {"iface_id", "host_dev_name"},
        "MachineConfiguration": {"vcpu_count", "mem_size_mib"},
        "Metrics": {"metrics_path"},
    }.items():
        have = set(defs.get(name, {}).get("required", []))
        report(fields <= have, f"spec: {name} requires {', '.join(sorted(fields))}",
               f"the spec requires {sorted(have)}")

    goldens = sorted(args.golden.glob("*.json"))
    report(bool(goldens), f"golden files in {args.golden}", "none found")
    docs = {}
    for path in goldens:
        try:
            docs[path] = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            report(False, shown(path), f"not JSON: {e}")
            continue
        errs = errors_of(strict, docs[path])
        # Firecracker boots from a config file only with these sections.
        errs += [f"{k}: missing" for k in ("boot-source", "drives", "machine-config") if k not in docs[path]]
        report(not errs, shown(path), "; ".join(errs))

    for path in sorted(reference.glob("vm_config*.json")):
        errs = errors_of(lenient, json.loads(path.read_text()))
        report(not errs, f"sample {path.name}", "; ".join(errs))

    # Self-test: each kind of mistake must be caught.
    if docs:
        base = next(iter(docs.values()))
        mutants = {
            "an unknown top-level field": lambda d: d.__setitem__("bogus", 1),
            "an unknown drive field": lambda d: d["drives"][0].__setitem__("readonly", True),
            "a missing required field": lambda d: d["machine-config"].pop("mem_size_mib"),
            "a wrong type": lambda d: d["machine-config"].__setitem__("vcpu_count", "2"),
            "a value out of range": lambda d: d["machine-config"].__setitem__("vcpu_count", 33),
            "a null in strict mode": lambda d: d["boot-source"].__setitem__("initrd_path", None),
        }
        for what, mutate in mutants.items():
            doc = copy.deepcopy(base)
            mutate(doc)
            report(bool(errors_of(strict, doc)), f"self-test: {what} is caught", "it validated")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
