"""`make mutation`'s report: each module's score, the survivors left to kill, and the mutants
named equivalent in docs/testing.md kept out of both."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from infra.tools import mutation_scores
from infra.tools.mutation_scores import EQUIVALENTS, named_equivalents, report, tally

RESULTS = """\
    handler.tokens.x__shown__mutmut_1: killed
    handler.tokens.x__shown__mutmut_2: timeout
    handler.tokens.x__shown__mutmut_5: survived
    handler.tokens.xǁTokenVerifierǁ_not_yet_valid__mutmut_3: survived
    handler.lti.claims.xǁLaunchVerifierǁ_check_claims__mutmut_3: no tests
    handler.lti.claims.xǁLaunchVerifierǁ_check_claims__mutmut_4: killed
    handler.lti.claims.xǁLaunchVerifierǁ_check_claims__mutmut_5: not checked
"""
EQUIVALENT_DOC = """\
Some prose, and a name in it that is no entry: `handler.tokens.x__shown__mutmut_1`.

- `handler.tokens.x__shown__mutmut_5`: the text is never longer than the cut
"""


def test_scores_count_per_module_and_leave_equivalents_out_of_the_score() -> None:
    result = tally(RESULTS.splitlines(), named_equivalents(EQUIVALENT_DOC))

    rows = {line.split()[0]: line.split()[1:] for line in report(result).splitlines()[1:3]}
    # mutants, killed, survived, no test, equivalent, other, score
    assert rows["handler.tokens"] == ["4", "2", "1", "0", "1", "0", "66.7%"]
    assert rows["handler.lti.claims"] == ["3", "1", "0", "1", "0", "1", "50.0%"]
    assert result.left == [
        "handler.tokens.xǁTokenVerifierǁ_not_yet_valid__mutmut_3: survived",
        "handler.lti.claims.xǁLaunchVerifierǁ_check_claims__mutmut_3: no tests",
    ]
    assert result.stale == []


def test_a_named_equivalent_that_a_test_kills_is_reported_as_stale() -> None:
    equivalents = {"handler.tokens.x__shown__mutmut_1", "handler.tokens.x__shown__mutmut_5"}

    result = tally(RESULTS.splitlines(), equivalents)

    assert result.stale == ["handler.tokens.x__shown__mutmut_1"]
    assert "yet killed (1):\nhandler.tokens.x__shown__mutmut_1" in report(result)


@pytest.mark.parametrize(
    ("results", "status"),
    [
        (RESULTS, 1),  # two survivors left
        ("    handler.tokens.x__shown__mutmut_5: survived\n", 0),  # only the named equivalent
        ("    handler.tokens.x__shown__mutmut_1: killed\n", 0),
    ],
)
def test_the_exit_status_says_whether_anything_is_left(
    results: str,
    status: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = tmp_path / "testing.md"
    doc.write_text(EQUIVALENT_DOC, encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO(results))

    assert mutation_scores.main(["--equivalents", str(doc)]) == status
    assert capsys.readouterr().out.startswith("module")


def test_the_named_equivalents_are_read_from_the_testing_guide() -> None:
    names = named_equivalents(EQUIVALENTS.read_text(encoding="utf-8"))

    assert names, "docs/testing.md names no equivalent mutant"
    assert all(name.startswith("handler.") for name in names)
