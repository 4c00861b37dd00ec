#!/usr/bin/python3
"""Holds schemas/clawfleet.schema.json to the same examples and invalid corpus
as the C++ validator, using an independent validator (Debian's
python3-jsonschema). Run with /usr/bin/python3: the distribution's modules.

Every document of every example must pass; every file of the invalid corpus
must fail with an error at its `# field:` path. Prints one line per case and
`N passed, N failed` last; exits 1 on any failure."""
import argparse
import json
import pathlib
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:  # a clear message instead of a traceback
    print(f"check_schema: {e}; install python3-jsonschema and python3-yaml (make deps)")
    print("0 passed, 1 failed")
    sys.exit(1)


class Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, so every document maps to JSON."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def dotted(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def flatten(errors):
    """Every error and, for combinators, the errors inside them."""
    for e in errors:
        yield e
        if e.context:
            yield from flatten(e.context)


def names_field(error, field):
    """True when this error is about `field`: at its path, or a required /
    additionalProperties error at its parent that names its last part."""
    here = dotted(error.absolute_path)
    if here == field:
        return True
    parent, _, key = field.rpartition(".")
    if "[" in key:
        return False
    if here == parent and error.validator in ("required", "additionalProperties", "unevaluatedProperties"):
        return repr(key) in error.message or f"'{key}'" in error.message
    return False


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.load_all(f, Loader=Loader) if d is not None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schema", required=True)
    ap.add_argument("--examples", required=True)
    ap.add_argument("--invalid", required=True)
    args = ap.parse_args()

    schema = json.loads(pathlib.Path(args.schema).read_text())
    cls = jsonschema.validators.validator_for(schema)
    if cls is not jsonschema.Draft202012Validator:
        print(f"FAIL schema: expected draft 2020-12, got {cls.__name__}")
        print("0 passed, 1 failed")
        return 1
    cls.check_schema(schema)
    validator = cls(schema)
    passed = failed = 0

    examples = sorted(p for p in pathlib.Path(args.examples).rglob("*") if p.suffix in (".yaml", ".yml"))
    for path in examples:
        errors = [e for doc in load_docs(path) for e in validator.iter_errors(json.loads(json.dumps(doc)))]
        if errors:
            failed += 1
            for e in errors:
                print(f"FAIL {path}: {dotted(e.absolute_path) or '(document)'}: {e.message}")
        else:
            passed += 1
            print(f"ok {path}")

    cases = sorted(pathlib.Path(args.invalid).glob("*.yaml"))
    for path in cases:
        text = path.read_text(encoding="utf-8")
        m = re.search(r"^# field: (\S+)$", text, re.M)
        if not m:
            failed += 1
            print(f"FAIL {path}: no '# field:' line")
            continue
        field = m.group(1)
        try:
            docs = load_docs(path)
        except yaml.YAMLError as e:
            failed += 1
            print(f"FAIL {path}: not YAML to the schema side: {e}")
            continue
        errors = list(flatten(e for doc in docs for e in validator.iter_errors(json.loads(json.dumps(doc)))))
        if any(names_field(e, field) for e in errors):
            passed += 1
            print(f"ok {path} ({field})")
        else:
            failed += 1
            got = "; ".join(f"{dotted(e.absolute_path) or '(document)'}: {e.message}" for e in errors) or "no error"
            print(f"FAIL {path}: expected an error at {field}, got: {got}")

    if not examples or not cases:
        failed += 1
        print("FAIL: no examples or no invalid cases found")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
