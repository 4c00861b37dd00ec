#!/usr/bin/python3
"""Holds schemas/clawfleet.schema.json to the same examples and invalid corpus
as the C++ validator, using an independent validator: Debian's
python3-jsonschema and python3-yaml. Run it with /usr/bin/python3 (the
distribution's interpreter and modules; a pyenv `python3` on PATH lacks
jsonschema):

    /usr/bin/python3 tests/schema/check_schema.py --schema schemas/clawfleet.schema.json \
        --examples examples --invalid tests/manifests/invalid

It checks, printing one line per case:
- the schema is a valid draft 2020-12 schema, and its long generated
  patterns (disk sizes 1GiB-64TiB in every unit, subnets with their host bits
  zero, IPv4 addresses) agree with the numeric rules of docs/manifest.md;
- every document of every *.yaml / *.yml under --examples (recursively)
  passes, and each such file names the schema in a yaml-language-server
  comment;
- every file of --invalid fails with an error at its `# field:` path
  (tests/manifests/README.md);
- every document of the semantic corpus (--semantic, by default
  invalid-semantic next to --invalid) passes: those mistakes are for
  `clawfleet validate` alone, and one the schema can see belongs in --invalid.
The last line is `N passed, N failed`; the exit status is 1 on any failure.

YAML is read the way clawfleet reads it, by the YAML 1.2 core schema: `yes`,
`on` and `2024-01-01` are strings, `010` is ten, there are no `<<` merge keys,
and a key written twice is an error (a JSON Schema would only see the last).
Keys are taken as written (`True:` is the key "True")."""
import argparse
import json
import pathlib
import random
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:  # a clear message instead of a traceback
    print(f"check_schema: {e}: this needs Debian's python3-jsonschema and python3-yaml "
          "(apt-get install python3-jsonschema python3-yaml) and must run with /usr/bin/python3")
    print("0 passed, 1 failed")
    sys.exit(1)

DRAFT = "https://json-schema.org/draft/2020-12/schema"


# --- YAML 1.2 core schema on PyYAML's SafeLoader ----------------------------

class Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit types only (null,
    bool, int, float: no timestamps, no YAML 1.1 yes/no/on/off, no sexagesimal
    or merge keys), string keys as written, and duplicate keys as errors."""

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, f"expected a mapping, found {node.id}", node.start_mark)
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError("while reading a mapping", node.start_mark,
                                                        "keys must be strings", key_node.start_mark)
            key = key_node.value
            if key in out:
                raise yaml.constructor.ConstructorError("while reading a mapping", node.start_mark,
                                                        f"duplicate key {key!r}", key_node.start_mark)
            out[key] = self.construct_object(value_node, deep=deep)
        return out

    def construct_yaml_map(self, node):
        data = {}
        yield data
        data.update(self.construct_mapping(node))

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)  # "010" is ten, as in YAML 1.2


Loader.yaml_implicit_resolvers = {}
Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                             list("tTfF"))
Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                             list("-+0123456789"))
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))
Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_yaml_map)
Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)


def load_docs(path):
    """The non-empty documents of a file (a `---` with only comments is none)."""
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.load_all(f, Loader=Loader) if d is not None]


# --- matching errors to `# field:` paths ------------------------------------

def dotted(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def flatten(errors):
    """Every error and, for anyOf/oneOf/allOf and the like, the errors inside them."""
    for e in errors:
        yield e
        if e.context:
            yield from flatten(e.context)


def names_field(error, field):
    """True when this error is about `field`: at its path; or at its parent, a
    required / additionalProperties / unevaluatedProperties error that names
    its last key, or a propertyNames error about that key."""
    here = dotted(error.absolute_path)
    if here == field:
        return True
    parent, _, key = field.rpartition(".")
    if "[" in key:  # a list item is never a missing or unknown key
        return False
    if here != parent:
        return False
    if error.validator in ("required", "additionalProperties", "unevaluatedProperties"):
        return repr(key) in error.message
    # propertyNames reports a bad key at its mapping, with the key as the instance
    return "propertyNames" in error.absolute_schema_path and error.instance == key


def one_line(exc):
    """A YAML error's text on one line (its marks span several)."""
    return " ".join(str(exc).split())


def describe(error):
    return f"{dotted(error.absolute_path) or '(document)'}: {error.message}"


# --- the schema's own checks ------------------------------------------------

def check_schema_itself(schema):
    """Returns (validator class, problem or None)."""
    if schema.get("$schema") != DRAFT:
        return None, f"$schema is {schema.get('$schema')!r}, want {DRAFT!r}"
    cls = jsonschema.validators.validator_for(schema)
    if cls is not jsonschema.Draft202012Validator:
        return None, f"validator for $schema is {cls.__name__}, want Draft202012Validator"
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        return None, f"not a valid draft 2020-12 schema: {e.message} at {dotted(e.absolute_path) or '(root)'}"
    return cls, None


def sub_validator(cls, schema, name):
    """A validator for one of the schema's $defs (resolved in the full schema)."""
    wrapper = {"$schema": DRAFT, "$defs": schema.get("$defs", {}), "$ref": f"#/$defs/{name}"}
    return cls(wrapper)


def probe(validator, cases):
    """cases: (instance, want_valid); returns the first disagreement or None."""
    for value, want in cases:
        if validator.is_valid(value) != want:
            return f"{value!r} should be {'accepted' if want else 'rejected'}"
    return None


def size_probes():
    gib, tib = 1 << 30, 1 << 40
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "KiB": 1 << 10, "MiB": 1 << 20,
             "GiB": 1 << 30, "TiB": 1 << 40, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    rnd = random.Random(1)
    for unit, factor in units.items():
        lo, hi = -(-gib // factor), 64 * tib // factor
        numbers = {0, 1, lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, hi * 10, 10**25}
        numbers |= {rnd.randrange(1, hi * 2) for _ in range(300)}
        for n in sorted(x for x in numbers if x >= 0):
            yield f"{n}{unit}", gib <= n * factor <= 64 * tib
        yield f"00{lo}{unit}", True  # leading zeros, as clawfleet reads them
    for bad in ["20", "20 GiB", "20gib", "20GIB", "20B", "GiB", "-20GiB", "20.5GiB", "20GiB\n", ""]:
        yield bad, False


def subnet_probes():
    rnd = random.Random(2)
    for prefix in range(8, 33):
        for _ in range(60):
            addr = rnd.getrandbits(32)
            if rnd.random() < 0.5:  # half of them written as their network address
                addr &= (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
            text = ".".join(str(addr >> s & 255) for s in (24, 16, 8, 0))
            mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
            yield f"{text}/{prefix}", 16 <= prefix <= 29 and addr & ~mask & 0xFFFFFFFF == 0
    for bad in ["10.0.0.0", "10.0.0.0/", "10.0.0.0/024", "010.0.0.0/24", "10.0.0.256/24", "10.0.0.0/24\n"]:
        yield bad, False


def ipv4_probes():
    rnd = random.Random(3)
    for _ in range(300):
        yield ".".join(str(rnd.randrange(256)) for _ in range(4)), True
    yield "0.0.0.0", True
    yield "255.255.255.255", True
    for bad in ["256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4/24", " 1.2.3.4", "1.2.3.4\n", "a.b.c.d"]:
        yield bad, False


def host_subnet_validator(cls, schema):
    return cls({"$schema": DRAFT, "$defs": schema.get("$defs", {}),
                "$ref": "#/$defs/hostSpec/properties/subnet"})


# --- main -------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schema", required=True)
    ap.add_argument("--examples", required=True)
    ap.add_argument("--invalid", required=True)
    ap.add_argument("--semantic", help="the corpus of mistakes a schema cannot see (default: invalid-semantic next to "
                                       "--invalid, when it exists); every document there must pass the schema")
    args = ap.parse_args()
    if args.semantic is None:
        sibling = pathlib.Path(args.invalid).parent / "invalid-semantic"
        args.semantic = sibling if sibling.is_dir() else None
    passed = failed = 0

    def result(ok, line):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        print(("ok " if ok else "FAIL ") + line)

    schema_path = pathlib.Path(args.schema)
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        result(False, f"{schema_path}: cannot read the schema: {e}")
        print(f"{passed} passed, {failed} failed")
        return 1
    cls, problem = check_schema_itself(schema)
    result(problem is None, f"{schema_path}" + (f": {problem}" if problem else ": a valid draft 2020-12 schema"))
    if problem:
        print(f"{passed} passed, {failed} failed")
        return 1
    validator = cls(schema)

    for name, probes, v in [("disk sizes 1GiB-64TiB", size_probes(), sub_validator(cls, schema, "size")),
                            ("subnets /16-/29 with host bits zero", subnet_probes(), host_subnet_validator(cls, schema)),
                            ("IPv4 addresses", ipv4_probes(), sub_validator(cls, schema, "ipv4"))]:
        bad = probe(v, list(probes))
        result(bad is None, f"{schema_path}: {name}" + (f": {bad}" if bad else ""))

    examples = sorted(p for p in pathlib.Path(args.examples).rglob("*")
                      if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in examples:
        try:
            docs = load_docs(path)
        except yaml.YAMLError as e:
            result(False, f"{path}: not valid YAML: {one_line(e)}")
            continue
        errors = [(i, e) for i, doc in enumerate(docs) for e in validator.iter_errors(doc)]
        m = re.search(r"^# yaml-language-server: \$schema=(\S+)$", path.read_text(encoding="utf-8"), re.M)
        if errors:
            result(False, f"{path}: " + "; ".join(f"document {i + 1}: {describe(e)}" for i, e in errors))
        elif not docs:
            result(False, f"{path}: no documents")
        elif not m:
            result(False, f"{path}: no '# yaml-language-server: $schema=...' comment")
        elif (path.parent / m.group(1)).resolve() != schema_path.resolve():
            result(False, f"{path}: its yaml-language-server comment names {m.group(1)}, not {schema_path}")
        else:
            result(True, f"{path}")

    cases = sorted(p for p in pathlib.Path(args.invalid).glob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in cases:
        text = path.read_text(encoding="utf-8")
        fields = re.findall(r"^# field: (\S+)$", text, re.M)
        if len(fields) != 1 or not re.search(r"^# why: \S", text, re.M):
            result(False, f"{path}: needs exactly one '# field: PATH' line and a '# why: ...' line")
            continue
        field = fields[0]
        try:
            docs = load_docs(path)
        except yaml.YAMLError as e:
            result(False, f"{path}: not YAML to the schema side: {one_line(e)}")
            continue
        top = [e for doc in docs for e in validator.iter_errors(doc)]
        if any(names_field(e, field) for e in flatten(top)):
            result(True, f"{path} ({field})")
        else:
            got = "no error"
            if top:
                best = jsonschema.exceptions.best_match(top)
                others = [describe(e) for e in top if e is not best]
                got = describe(best) + (f" (also: {'; '.join(others)})" if others else "")
            result(False, f"{path}: expected error at {field}, got: {got}")

    # The semantic corpus holds what only `clawfleet validate` can see: if the
    # schema rejected a case, the case belongs in --invalid.
    semantic = []
    if args.semantic and not pathlib.Path(args.semantic).is_dir():
        result(False, f"{args.semantic}: not a directory")
    elif args.semantic:
        semantic = sorted(p for p in pathlib.Path(args.semantic).iterdir() if p.is_dir())
    for case in semantic:
        problems = []
        for path in sorted(p for p in case.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
            try:
                docs = load_docs(path)
            except yaml.constructor.ConstructorError as e:
                if "duplicate key" not in str(e):  # a key written twice is for the loader, not a schema
                    problems.append(f"{path.name}: {e.problem}")
                continue
            except yaml.YAMLError as e:
                problems.append(f"{path.name}: not valid YAML: {one_line(e)}")
                continue
            problems += [f"{path.name}: {describe(e)}" for doc in docs for e in validator.iter_errors(doc)]
        if problems:
            result(False, f"{case}: the schema rejects this case, so it belongs in {args.invalid}: " + "; ".join(problems))
        else:
            result(True, f"{case} (beyond a schema)")

    if not examples:
        result(False, f"{args.examples}: no examples found")
    if not cases:
        result(False, f"{args.invalid}: no invalid cases found")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
