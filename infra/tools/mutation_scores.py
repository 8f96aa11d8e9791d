"""The mutation score of each mutated module, from ``mutmut results --all true`` on stdin.

``make mutation`` pipes mutmut's list (one ``name: status`` line per mutant) here and
gets one line per module: mutants, killed (a test failed, or ran past its timeout),
survived, without a test, equivalent, other (not run yet, suspicious, skipped) and the
share killed of those run that are not equivalent.

An equivalent mutant is one no input can tell from the code; each is named, with the
reason, in docs/testing.md (``- `NAME`: why``). Everything else not killed is listed by
name, for ``mutmut show NAME``: each wants a test, or a reason in that list. The exit
status is 1 while any is left, or while the list names a mutant that a test now kills.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

KILLED = {"killed", "timeout", "caught by type check"}
NOT_KILLED = {"survived", "no tests"}
# handler.lti.claims.xǁLaunchVerifierǁ_check_claims__mutmut_3 -> handler.lti.claims
MUTANT = re.compile(r"^\s*(?P<name>(?P<module>[\w.]+?)\.x[_ǁ].*__mutmut_\d+): (?P<status>.+)$")
# - `handler.tokens.x__shown__mutmut_5`: why no input tells it apart
NAMED_EQUIVALENT = re.compile(r"^- `(?P<name>[\w.ǁ]+__mutmut_\d+)`")
EQUIVALENTS = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


@dataclass
class Tally:
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    left: list[str] = field(default_factory=list)  # not killed, not named equivalent
    stale: list[str] = field(default_factory=list)  # named equivalent, yet killed


def named_equivalents(text: str) -> set[str]:
    return {match["name"] for line in text.splitlines() if (match := NAMED_EQUIVALENT.match(line))}


def tally(lines: Iterable[str], equivalents: set[str]) -> Tally:
    result = Tally()
    for line in lines:
        match = MUTANT.match(line.rstrip("\n"))
        if not match:
            continue
        name, status = match["name"], match["status"].strip()
        if status in NOT_KILLED and name in equivalents:
            status = "equivalent"
        elif status in NOT_KILLED:
            result.left.append(f"{name}: {status}")
        elif status in KILLED and name in equivalents:
            result.stale.append(name)
        result.counts[match["module"]][status] += 1
    return result


def report(result: Tally) -> str:
    columns = ("mutants", "killed", "survived", "no test", "equiv.", "other", "score")
    lines = [f"{'module':<22} " + " ".join(f"{column:>8}" for column in columns)]
    for module in sorted(result.counts):
        statuses = result.counts[module]
        total = sum(statuses.values())
        killed = sum(statuses[s] for s in KILLED)
        survived, untested, equivalent = statuses["survived"], statuses["no tests"], statuses["equivalent"]
        other = total - killed - survived - untested - equivalent
        checked = killed + survived + untested
        score = f"{100 * killed / checked:.1f}%" if checked else "-"
        row = (total, killed, survived, untested, equivalent, other, score)
        lines.append(f"{module:<22} " + " ".join(f"{value:>8}" for value in row))
    if result.left:
        lines.append(f"\nnot killed ({len(result.left)}; `mutmut show NAME` prints the change):")
        lines.extend(result.left)
    if result.stale:
        lines.append(f"\nnamed equivalent in {EQUIVALENTS.name}, yet killed ({len(result.stale)}):")
        lines.extend(result.stale)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equivalents", type=Path, default=EQUIVALENTS, help="the named equivalents")
    args = parser.parse_args(argv)
    result = tally(sys.stdin, named_equivalents(args.equivalents.read_text(encoding="utf-8")))
    print(report(result))
    return 1 if result.left or result.stale else 0


if __name__ == "__main__":
    sys.exit(main())
