"""The repository stands alone: a clone with nothing beside it has everything it refers to."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

from tests.conftest import ROOT

# Text that points at files a clone does not have: a sibling folder, the machine the project was
# written on, or notes that are not in the repository.
OUTSIDE = re.compile(
    r"\.\./shared/(?:crds|tools|full|[\w.-]+\.md)|/work/|MLOPSC_SHARED|checkers\.md|spec-v1\.md|\bcli\.md|\bissues? #?\d+",
    re.IGNORECASE,
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def tracked() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [p for p in done.stdout.split("\0") if p]


def _text(path: str) -> str | None:
    try:
        return (ROOT / path).read_text(encoding="utf-8")
    except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
        return None


def test_no_tracked_file_refers_outside_the_repository() -> None:
    found = []
    for path in tracked():
        text = _text(path)
        if text is None or path == "tests/test_standalone.py":
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = OUTSIDE.search(line)
            if match:
                found.append(f"{path}:{number}: {match.group(0)!r}")
    assert found == []


def test_the_pattern_catches_what_it_should() -> None:
    outside = "../" + "shared"  # spelled in two parts: this file itself must not match
    for line in (
        f"see {outside}/crds",
        f"read ../{outside}/style.md",
        "(cli.md, Labels)",
        "what issue 7 asks",
        "/work/main/x",
        "MLOPSC_SHARED",
        "docs in spec-v1.md",
    ):
        assert OUTSIDE.search(line), line
    for line in (
        "issue_number",
        "github.rest.issues.listComments",
        "shared by the tests",
        f"include: [{outside}/teams.yaml]",  # a fixture inside a test's own folder
    ):
        assert not OUTSIDE.search(line), line


def test_markdown_links_stay_inside_the_repository() -> None:
    bad = []
    for path in tracked():
        if not path.endswith(".md") or path.startswith("tests/snapshots/"):
            continue
        text = CODE.sub("", _text(path) or "")
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            relative = PurePosixPath(path).parent / target.split("#")[0]
            resolved = (ROOT / relative).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                bad.append(f"{path}: {target}")
    assert bad == []


def test_vendored_data_names_its_source() -> None:
    readme = (ROOT / "tests" / "data" / "crds" / "README.md").read_text()
    for needed in (
        "kserve/kserve",
        "prometheus-operator",
        "argo-cd",
        "argo-rollouts",
        "Apache-2.0",
    ):
        assert needed in readme
    assert Path(ROOT / "tests" / "crd_validate.py").is_file()
