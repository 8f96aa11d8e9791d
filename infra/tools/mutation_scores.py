"""The mutation score of each mutated module, from ``mutmut results --all true`` on stdin.

``make mutation`` pipes mutmut's list (one ``name: status`` line per mutant) here and
gets one line per module: mutants, killed (a test failed, or ran past its timeout),
survived, without a test, other (not run yet, suspicious, skipped) and the share killed
of those run; then every mutant that survived or that no test runs, by name, for
``mutmut show NAME``. A mutant no test runs counts as not killed.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable

KILLED = {"killed", "timeout", "caught by type check"}
# handler.lti.claims.xǁLaunchVerifierǁ_check_claims__mutmut_3 -> handler.lti.claims
MUTANT = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ].*__mutmut_\d+: (?P<status>.+)$")


def tally(lines: Iterable[str]) -> tuple[dict[str, Counter[str]], list[str]]:
    """Statuses counted per module, and the lines of the mutants not killed."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    not_killed = []
    for line in lines:
        match = MUTANT.match(line.rstrip("\n"))
        if not match:
            continue
        status = match["status"].strip()
        counts[match["module"]][status] += 1
        if status in ("survived", "no tests"):
            not_killed.append(line.strip())
    return counts, not_killed


def main() -> int:
    counts, not_killed = tally(sys.stdin)
    columns = ("mutants", "killed", "survived", "no test", "other", "score")
    print(f"{'module':<22} " + " ".join(f"{column:>8}" for column in columns))
    for module in sorted(counts):
        statuses = counts[module]
        total = sum(statuses.values())
        killed = sum(statuses[s] for s in KILLED)
        survived, untested = statuses["survived"], statuses["no tests"]
        other = total - killed - survived - untested  # not checked, suspicious, skipped
        checked = killed + survived + untested
        score = f"{100 * killed / checked:.1f}%" if checked else "-"
        row = (total, killed, survived, untested, other, score)
        print(f"{module:<22} " + " ".join(f"{value:>8}" for value in row))
    if not_killed:
        print(f"\nnot killed ({len(not_killed)}; mutmut show NAME prints the change):")
        print("\n".join(not_killed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
