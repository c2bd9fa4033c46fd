#!/usr/bin/env python3
"""The layers of ../shared/design.md, checked on the source tree.

1. No arrow back up: a file in folder F includes project headers only from F or from
   a folder before F in the top-level CMakeLists.txt's build order.
2. The folders below the actors stay free of CAF and curl: no header they include,
   directly or through other project headers, includes <caf/...> or <curl/...>.

Usage: layers.py SOURCE_DIR. Prints every violation (file, the include, why) and
exits 1 when there is one.
"""
import pathlib
import re
import sys

# Folders whose code may not reach CAF or curl, even through another project header.
NO_CAF_NO_CURL = ["errors", "profiles", "matrix", "agent", "httpd", "store", "logging", "metrics",
                  "cluster"]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def build_order(root):
    text = (root / "CMakeLists.txt").read_text()
    m = re.search(r"foreach\(layer ([^)]*)\)", text)
    if not m:
        sys.exit("layers.py: no 'foreach(layer ...)' in CMakeLists.txt")
    return m.group(1).split()


def includes(path):
    return INCLUDE.findall(path.read_text(errors="replace"))


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    order = build_order(root)
    rank = {folder: i for i, folder in enumerate(order)}
    problems = []
    sources = [p for folder in order for p in (root / folder).rglob("*")
               if p.suffix in (".hpp", ".cpp", ".in")]

    for path in sources:
        folder = path.relative_to(root).parts[0]
        for kind, name in includes(path):
            if kind != '"':
                continue
            target = name.split("/")[0]
            if target in rank and rank[target] > rank[folder]:
                problems.append(f"{path.relative_to(root)}: includes \"{name}\": {target}/ "
                                f"comes after {folder}/ in the build order")

    def caf_or_curl(name):
        # "caf/all.hpp" reaches CAF as surely as <caf/all.hpp> does.
        return name.split("/")[0] in ("caf", "curl")

    # What each project header reaches, transitively: the headers of CAF/curl. Computed
    # afresh for each file checked: a cached answer found inside an include cycle would
    # miss what the cycle's other headers reach.
    def reached(header, seen):
        if header in seen or not (root / header).is_file():
            return set()
        seen.add(header)
        found = set()
        for kind, name in includes(root / header):
            if caf_or_curl(name):
                found.add(f"{name} in {header}")
            elif kind == '"':
                found |= reached(name, seen)
        return found

    for path in sources:
        folder = path.relative_to(root).parts[0]
        if folder not in NO_CAF_NO_CURL:
            continue
        found = set()
        seen = set()
        for kind, name in includes(path):
            if caf_or_curl(name):
                found.add(name)
            elif kind == '"':
                found |= reached(name, seen)
        for what in sorted(found):
            problems.append(f"{path.relative_to(root)}: reaches {what}, but {folder}/ is "
                            "to stay free of CAF and curl")

    for p in problems:
        print(p)
    print(f"layers: {len(sources)} files in {' '.join(order)}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
