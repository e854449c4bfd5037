#!/usr/bin/env bash
# Mutation testing of the committed code (HEAD) with mutmut: which one-line bugs would the fast tests miss?
#
# Why a staging folder: mutmut names a mutant after its file's path, and the tests import the repo root as the
# package ``lora_manager`` (see tests/conftest.py), so the code must sit in a folder of that name for the two
# names to agree. The staging folder holds HEAD (not the work tree, which may hold half-done work).
#
#   tests/mutants.sh                         # the areas below, with unit, property and fault tests
#   MUTATE="py/library/query.py" TESTS="tests/unit tests/property/test_query_properties.py" tests/mutants.sh
#
# Not part of CI: the whole scope takes hours on 2 cores. Results stay in .mutants/ (`cd .mutants && mutmut
# results`, `mutmut show <name>`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MUTMUT="$ROOT/.venv/bin/mutmut"
MUTATE=${MUTATE:-"py/library py/services/downloads py/services/lifecycle.py py/services/recipes"}
TESTS=${TESTS:-"tests/unit tests/property tests/faults"}
CHILDREN=${CHILDREN:-2}

test -x "$MUTMUT" || "$ROOT/.venv/bin/pip" install --quiet mutmut==3.8.1
STAGE="$ROOT/.mutants"
rm -rf "$STAGE"
mkdir -p "$STAGE/lora_manager"
git archive HEAD | tar -x -C "$STAGE/lora_manager"
rm -rf "$STAGE/lora_manager/tests/e2e"
{
  echo "[mutmut]"
  echo "source_paths ="
  for path in $MUTATE; do echo "    lora_manager/$path"; done
  echo "also_copy ="
  echo "    lora_manager"
  echo "pytest_add_cli_args ="
  echo "    -q"
  echo "    -m"
  echo "    not e2e and not slow"
  echo "pytest_add_cli_args_test_selection ="
  for path in $TESTS; do echo "    lora_manager/$path"; done
} > "$STAGE/setup.cfg"
cd "$STAGE"
"$MUTMUT" run --max-children "$CHILDREN" || true
"$MUTMUT" results || true  # every mutant that was not killed, by name
"$ROOT/.venv/bin/python" - <<'EOF'
"""The score: killed among the mutants that ran (no-tests, skipped and unchecked ones are listed apart)."""
import json
import pathlib
from collections import Counter

from mutmut.stats import status_by_exit_code

counts: Counter[str] = Counter()
for meta in pathlib.Path("mutants").rglob("*.meta"):
    for code in json.loads(meta.read_text()).get("exit_code_by_key", {}).values():
        counts[status_by_exit_code[code]] += 1
ran = counts["killed"] + counts["survived"] + counts["timeout"]
score = 100 * (counts["killed"] + counts["timeout"]) / ran if ran else 0.0
print(f"mutation score: {score:.1f}% killed ({counts['killed'] + counts['timeout']} of {ran} mutants run); "
      + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
EOF
