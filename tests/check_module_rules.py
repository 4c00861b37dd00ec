#!/usr/bin/python3
"""Enforces docs/ARCHITECTURE.md's module rules on every #include in src/.

The build links modules PRIVATE, but system headers are visible to every
target, so this check is what stops e.g. the planner from including sd-bus
or yaml-cpp by accident. Prints one line per violation and
`N passed, N failed` (files checked)."""
import pathlib
import re
import sys

# Project modules each module may include (itself always allowed).
ALLOWED_MODULES = {
    "core": set(),
    "model": {"core"},
    "manifest": {"core", "model"},
    "plan": {"core", "model"},
    "host": {"core", "model"},
    "apply": {"core", "model", "plan", "host"},
    "agent": {"core", "model", "manifest", "plan", "host", "apply"},
    "cli": {"core", "model", "manifest", "plan", "host", "apply", "agent"},
}

# Third-party headers (by prefix) and the modules that may include them.
# Anything not listed here must be a standard C++ or POSIX header.
THIRD_PARTY = {
    "yaml-cpp/": {"manifest"},
    "nlohmann/": {"model", "host", "apply", "agent", "cli"},
    "fmt/": {"host", "apply", "agent", "cli"},
    "spdlog/": {"agent", "cli"},  # only cli and agent log
    "systemd/": {"host", "agent"},
    "curl/": {"host"},
    "nftables/": {"host"},
    "libmnl/": {"host"},
    "CLI/": {"cli"},
    "gtest/": set(),
    "gmock/": set(),
}

# Headers that mean I/O; the planner is pure.
IO_HEADERS = {"fstream", "filesystem", "iostream", "cstdio", "unistd.h", "fcntl.h", "dirent.h", "thread"}

# Third-party types must not leak through public headers of these modules.
HEADER_FORBIDDEN = {"model": {"nlohmann/"}}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def check(src: pathlib.Path):
    failures, checked = [], 0
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cc"):
            continue
        checked += 1
        module = path.relative_to(src).parts[0]
        if module not in ALLOWED_MODULES:
            failures.append(f"{path}: module '{module}' is not in docs/ARCHITECTURE.md")
            continue
        for kind, header in INCLUDE.findall(path.read_text()):
            where = f"{path.relative_to(src.parent)}: #include {kind}{header}"
            if kind == '"':
                dep = header.split("/")[0]
                if dep != module and dep not in ALLOWED_MODULES[module]:
                    failures.append(f"{where}: {module} may not depend on {dep}")
                continue
            prefix = next((p for p in THIRD_PARTY if header.startswith(p)), None)
            if prefix:
                if module not in THIRD_PARTY[prefix]:
                    failures.append(f"{where}: {module} may not use {prefix.rstrip('/')}")
                elif path.suffix == ".h" and prefix in HEADER_FORBIDDEN.get(module, set()):
                    failures.append(f"{where}: {prefix.rstrip('/')} must stay out of {module}'s headers")
            elif module == "plan" and header in IO_HEADERS:
                failures.append(f"{where}: plan is pure and does no I/O")
    return failures, checked


def self_test():
    """The check must catch what it claims to: run it on a tree that breaks each rule."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "src"
        bad = {
            "plan/a.cc": "#include <yaml-cpp/yaml.h>\n",
            "plan/b.cc": "#include <fstream>\n",
            "plan/c.cc": '#include "host/systemd/systemd.h"\n',
            "model/d.h": "#include <nlohmann/json.hpp>\n",
            "manifest/e.cc": "#include <spdlog/spdlog.h>\n",
            "core/f.cc": '#include "model/desired.h"\n',
            "agent/g.cc": '#include "cli/verbs.h"\n',
            "agent/h.cc": "#include <CLI/CLI.hpp>\n",
            # A file in a module's subfolder belongs to that module.
            "plan/sub/i.cc": "#include <curl/curl.h>\n",
        }
        for name, text in bad.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        (root / "plan/ok.cc").write_text('#include <vector>\n#include "model/desired.h"\n')
        (root / "host/sub").mkdir(parents=True)
        (root / "host/sub/ok.cc").write_text(
            '#include <curl/curl.h>\n#include <systemd/sd-bus.h>\n#include "host/other/x.h"\n#include "core/result.h"\n')
        failures, _ = check(root)
        caught = {f.split(": #include")[0].replace("src/", "", 1) for f in failures}
        missed = set(bad) - caught
        if missed or len(failures) != len(bad):
            print("FAIL self-test: missed", sorted(missed), "or extra", failures)
            return False
    return True


def main():
    if not self_test():
        print("0 passed, 1 failed")
        return 1
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src").resolve()
    failures, checked = check(src)
    for f in failures:
        print("FAIL", f)
    print(f"{checked - len(set(f.split(':')[0] for f in failures))} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
