#!/bin/sh
# Every C++ file of the project in the style of .clang-format (clang-format
# 14, Debian 12's). Prints the files that differ and how to fix them.
set -eu
root=${1:?usage: check_format.sh SOURCE_DIR}
cd "$root"
files=$(find src tests bench -name '*.cc' -o -name '*.h' | sort)
# One run for all: the usual case; file by file only to name the culprits.
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files >/dev/null 2>&1 && {
  echo "$(echo "$files" | wc -l) files in the style of .clang-format"
  exit 0
}
bad=""
for f in $files; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
  echo "not in the style of .clang-format:$bad" >&2
  echo "fix: clang-format -i$bad" >&2
  exit 1
fi
echo "$(echo "$files" | wc -l) files in the style of .clang-format"
