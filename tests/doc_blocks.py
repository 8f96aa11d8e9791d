"""The code blocks of the Markdown documents, and how the docs test runs the shell ones.

Every shell block (bash, sh) of README.md and docs/*.md carries a marker, an HTML comment on
the line before its fence, saying how the suite proves it:

    <!-- doc-test: local -->                                run as written, in order, on the local stack
    <!-- doc-test: background; ready: Local stack ready --> long-running (make dev): started in the
                                                           background, ready when a line holds the text,
                                                           stopped before the next one and at the end
    <!-- doc-test: aws -->      needs an AWS account     \\
    <!-- doc-test: docker -->   needs Docker              > checked: shell syntax, and every make target
    <!-- doc-test: synopsis --> a usage line ([options])  /  and variable it names exists
    <!-- doc-test: suite -->    the test suite itself (make test, make check): checked the same way

A local block runs in a bash of its own with ``-e -o pipefail``: every command must succeed,
and nothing it sets may be needed later (a reader's terminal would keep an ``export``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGUAGES = frozenset({"bash", "sh"})
RUN_KINDS = frozenset({"local", "background"})
CHECK_KINDS = frozenset({"aws", "docker", "synopsis", "suite"})
# The order a newcomer reads them in: the README, then the guides its first pages link to.
FIRST_DOCUMENTS = ("README.md", "docs/partner-guide.md", "docs/operations.md", "docs/lti.md")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
_MARKER = re.compile(r"<!-- doc-test: (\w+)(?:; ready: (.+?))? -->\s*\Z")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and its marker (``kind``, ``ready``)."""

    document: str
    line: int
    language: str
    text: str
    kind: str | None
    ready: str | None = None

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def documents() -> list[str]:
    """Every Markdown document a user reads, in reading order (paths relative to the repository)."""
    rest = sorted(f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md"))
    return [*FIRST_DOCUMENTS, *(name for name in rest if name not in FIRST_DOCUMENTS)]


def blocks(document: str, language: str | None = None) -> list[Block]:
    """The fenced blocks of ``document`` (of ``language`` only, if given), in order."""
    text = (ROOT / document).read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n")
        previous_line = before.rsplit("\n", 1)[-1]
        marker = _MARKER.search(previous_line)
        block = Block(
            document=document,
            line=text.count("\n", 0, match.start()) + 1,
            language=match.group(1),
            text=match.group(2),
            kind=marker.group(1) if marker else None,
            ready=marker.group(2) if marker else None,
        )
        if language is None or block.language == language:
            found.append(block)
    return found


def code_blocks(document: str, language: str) -> list[str]:
    """The text of ``document``'s blocks of ``language``, in order."""
    return [block.text for block in blocks(document, language)]


def shell_blocks() -> list[Block]:
    """Every shell block of every document, in reading order."""
    return [
        block for document in documents() for block in blocks(document) if block.language in SHELL_LANGUAGES
    ]


def make_invocations(script: str) -> list[tuple[str, list[str]]]:
    """``(target, [VARIABLE, ...])`` of each ``make`` command line in ``script``.

    Continuation lines are joined; ``VAR=value`` words before ``make`` are the environment,
    after it the make variables; ``[...]`` marks optional ones in a synopsis.
    """
    joined = script.replace("\\\n", " ")
    found = []
    for match in re.finditer(
        r"(?:^|[;&|(]\s*|\$\(\s*)(?:\w+=\S+\s+)*make\s+([^\n;&|)#]*)", joined, flags=re.M
    ):
        words = match.group(1).replace("[", " ").replace("]", " ").split()
        options = [word for word in words if word.startswith("-")]
        targets = [
            word for word in words if not word.startswith("-") and "=" not in word and word[:1].isalpha()
        ]
        variables = [word.split("=", 1)[0] for word in words if re.match(r"[A-Z_][A-Z0-9_]*=", word)]
        if targets and not options:
            found.append((targets[0], variables))
    return found


def with_placeholders_filled(script: str) -> str:
    """``script`` with ``<your value>`` placeholders as plain words, for a syntax check."""
    return re.sub(r"<[^<>\n]+>", "PLACEHOLDER", script)


def path_without(directory: Path, hidden: tuple[str, ...]) -> str:
    """A PATH with every program of this one but ``hidden``: links in ``directory``/bin."""
    farm = directory / "bin"
    farm.mkdir()
    for entry in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            target = os.path.join(entry, name)
            if name not in hidden and not (farm / name).exists() and os.access(target, os.X_OK):
                (farm / name).symlink_to(target)
    return str(farm)
