"""Diagnostics: one frozen type, a code registry, a sink, and the text/json/github/sarif renderers."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Span(NamedTuple):
    """A place in a source file: 1-based line and column (a tuple: the loader makes one per
    node of the spec, and a tuple is several times cheaper to make than a frozen dataclass)."""

    file: str
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Code:
    """A stable diagnostic code with its one-line description and a longer explanation."""

    code: str
    summary: str
    explanation: str = ""


_CODES: dict[str, Code] = {}


def _code(code: str, summary: str, explanation: str = "") -> str:
    _CODES[code] = Code(code, summary, explanation)
    return code


# MLC1xx: reading the file.
YAML_SYNTAX = _code("MLC101", "YAML syntax error", "The file is not well-formed YAML.")
TAB = _code(
    "MLC102",
    "tab character used for indentation",
    "YAML forbids tabs in indentation; use spaces.",
)
EMPTY = _code("MLC103", "empty file", "The spec file holds no document.")
ENCODING = _code("MLC104", "file is not valid UTF-8", "Save the file as UTF-8.")
NOT_MAPPING = _code(
    "MLC105",
    "top level is not a mapping",
    "A spec file is one YAML mapping (apiVersion, kind, metadata, ...).",
)
DUPLICATE_KEY = _code(
    "MLC106",
    "duplicate key in a mapping",
    "A key may appear once per mapping; YAML loaders disagree on which copy wins, so mlopsc refuses both.",
)
BAD_TAG = _code(
    "MLC107",
    "non-standard YAML tag",
    "Only the standard YAML tags (str, int, float, bool, null, map, seq) are accepted; "
    "application tags such as !!python/object are refused so that untrusted specs cannot run code.",
)
ALIAS_BOMB = _code(
    "MLC108",
    "alias expansion too large",
    "Anchors and aliases expand to more nodes than a spec can sensibly hold "
    "(a 'billion laughs' document); the file is refused instead of expanded.",
)
MULTI_DOC = _code(
    "MLC109", "more than one YAML document", "A spec file holds exactly one YAML document."
)
INCLUDE_MISSING = _code(
    "MLC110",
    "included file not found or unreadable",
    "An `include:` entry names a file or glob that matches nothing, relative to the including "
    "file, or a file that cannot be read: unreadable, or not a regular file (a folder, FIFO, "
    "device or socket).",
)
INCLUDE_CYCLE = _code(
    "MLC111", "include cycle", "A file includes itself, directly or through other files."
)
INCLUDE_CONTENT = _code(
    "MLC112",
    "included file holds something it may not",
    "Included files may only hold the list sections (teams, environments, sources, entities, "
    "features, models, slos) and `include:`; their lists are appended to the including file's.",
)
MERGE_KEY = _code(
    "MLC113",
    "invalid merge key",
    "A `<<` merge key must name a mapping or a list of mappings.",
)
TOO_DEEP = _code("MLC114", "document nested too deeply", "The YAML nests more than 64 levels.")
INCLUDE_OUTSIDE = _code(
    "MLC115",
    "include outside the repository",
    "An `include:` entry may only name files inside the repository the spec lives in (the git "
    "work tree, found by the nearest `.git` above the spec; outside git, the spec's folder): "
    "no absolute path, no `..` above it, no symlink leading out of it.",
)
INCLUDE_TOO_BROAD = _code(
    "MLC116",
    "includes too broad",
    "An `include:` glob visited more than 10,000 files and folders without finishing (name a "
    "narrower pattern; globs never enter symlinked folders, or hidden ones unless named), "
    "includes nest more than 16 files deep, or the spec and its includes pass 2,000 files or "
    "64 MiB.",
)

# MLC2xx: the shape of the spec.
UNKNOWN_KEY = _code(
    "MLC201", "unknown key", "The key is not part of spec v1; a near match is suggested."
)
MISSING_KEY = _code("MLC202", "required key missing", "A key that spec v1 requires is absent.")
WRONG_TYPE = _code(
    "MLC203", "value has the wrong type", "For example a list where a mapping is expected."
)
BAD_VALUE = _code("MLC204", "value not allowed", "The value is not one of those the key accepts.")
BAD_NAME = _code(
    "MLC205",
    "invalid name",
    "Project, model, SLO, environment and team names are DNS-1123 labels of at most 40 "
    "characters: lower-case letters, digits and '-', starting with a letter and ending with a "
    "letter or digit. They prefix the names of generated Kubernetes objects.",
)
BAD_IDENT = _code(
    "MLC206",
    "invalid identifier",
    "Source, entity, feature view and field names are snake_case identifiers [a-z][a-z0-9_]*; "
    "they become Python names in the Feast repository.",
)
BAD_DURATION = _code(
    "MLC207", "invalid duration", "Durations are an integer and a unit: ms, s, m, h, d or w."
)
BAD_QUANTITY = _code(
    "MLC208",
    "invalid resource quantity",
    "CPU and memory are Kubernetes quantities such as 500m, 2, 512Mi or 2Gi.",
)
BAD_CRON = _code(
    "MLC209",
    "invalid cron schedule",
    "Schedules are 5-field cron expressions: minute hour day-of-month month day-of-week.",
)
BAD_SEMVER = _code("MLC210", "invalid semantic version", "Model versions look like 3.2.0.")
BAD_IMAGE = _code(
    "MLC211",
    "invalid image reference",
    "Images are OCI references, ideally pinned by digest: registry/repo@sha256:<64 hex>.",
)
OUT_OF_RANGE = _code("MLC212", "value out of range", "A number lies outside its allowed range.")
BAD_HEADER = _code(
    "MLC213",
    "wrong apiVersion or kind",
    "A spec starts with `apiVersion: mlopsc/v1` and `kind: MLOpsProject`.",
)
BAD_DATE = _code("MLC214", "invalid date", "Dates are written YYYY-MM-DD.")
BAD_DIGEST = _code(
    "MLC215", "invalid digest", "Digests are written sha256:<64 lower-case hex characters>."
)
BAD_SLI = _code(
    "MLC216",
    "an SLI declares exactly one kind",
    "An SLO's `sli` holds exactly one of availability, latency, drift, freshness, events.",
)
BAD_FORMAT = _code(
    "MLC217",
    "value has the wrong form",
    "The value does not match the form the key requires (see the message).",
)
CONTROL_CHAR = _code(
    "MLC219",
    "control character in a name, key or path",
    "Keys, names, identifiers, paths, URIs, images and every other value that is not free text "
    "may not hold a control or invisible character (C0 and C1 controls, DEL, line and paragraph "
    "separators, byte-order mark, zero-width and bidirectional-override characters). Free text "
    "(descriptions, model-card fields, reasons, commands, queries, CEL expressions) may hold "
    "newlines and tabs, and no other of them.",
)
BAD_RISK = _code(
    "MLC218",
    "unacceptable risk is prohibited",
    "EU AI Act Art. 5 prohibits AI practices of unacceptable risk; such a model cannot be deployed.",
)

# MLC3xx: references and meaning.
DUPLICATE_NAME = _code(
    "MLC301",
    "duplicate name",
    "Names are unique within their section, and a model is not named after another model's "
    "job (`<model>-train`, `-drift`, `-score`), whose pods carry that name as their instance.",
)
UNKNOWN_FEATURE = _code(
    "MLC302",
    "unknown feature",
    "A model, drift monitor or SLO names a feature view or a `view:field` that does not exist.",
)
UNKNOWN_TEAM = _code("MLC303", "unknown team", "Owners, reviewers and approvers are team names.")
UNKNOWN_SOURCE = _code("MLC304", "unknown source", "The name is not a declared source.")
UNKNOWN_ENTITY = _code("MLC305", "unknown entity", "The name is not a declared entity.")
UNKNOWN_MODEL = _code("MLC307", "unknown model", "The SLO names a model that is not declared.")
UNKNOWN_ENV = _code(
    "MLC308",
    "unknown environment",
    "`overrides` keys are environment names declared under `environments`.",
)
SLI_MISFIT = _code(
    "MLC309",
    "SLI does not fit its model",
    "availability and latency need a realtime model; drift needs a feature the model uses and "
    "its drift job (`monitoring.drift`) scores and pushes to a Pushgateway; latency on KServe "
    "needs a runtime that exports request_predict_seconds (a warning); "
    "freshness needs a training schedule, run on Kubernetes (a CronJob whose last success "
    "kube-state-metrics reports; `training.runs_on: ci` runs none).",
)
REPLICAS = _code(
    "MLC310", "min_replicas above max_replicas", "Autoscaling needs min_replicas <= max_replicas."
)
ROLLOUT = _code(
    "MLC311",
    "inconsistent rollout",
    "A canary rollout needs canary_percent (1..99); a rolling rollout takes none.",
)
UNKNOWN_RULE = _code(
    "MLC312",
    "waiver names an unknown rule",
    "A waiver's `rule` is a built-in rule id (see `mlopsc rules`) or a policy id of the project.",
)
WAIVER_TARGET = _code(
    "MLC313",
    "waiver target does not exist",
    "A waiver's `target` is the name the rule fires on: a model, feature view, source, SLO, "
    "environment or the project.",
)
SERVING_MODE = _code(
    "MLC314",
    "serving keys do not fit the mode",
    "Batch serving needs a schedule and has no port or autoscaling; realtime serving has no schedule.",
)
SERVING_IMAGE = _code(
    "MLC315",
    "serving image required",
    "Runtime `deployment` and batch serving run the model's own server image.",
)
SOURCE_LOCATION = _code(
    "MLC318",
    "source location missing or misplaced",
    "A `file` source has a `path`; the other kinds have a `table` (kafka: the topic).",
)
POLICY_SYNTAX = _code(
    "MLC320",
    "policy expression does not compile",
    "A policy's `when` and `require` are CEL expressions over the variable named by applies_to.",
)
POLICY_EVAL = _code(
    "MLC321",
    "policy expression failed to evaluate",
    "The expression compiled but failed on this object (a missing field, a type mismatch); "
    "use has() to guard optional fields.",
)
WAIVER_UNUSED = _code(
    "MLC323",
    "waiver matches nothing",
    "No rule result matches the waiver's rule and target; remove it or fix the names.",
)
DUPLICATE_RULE = _code(
    "MLC324",
    "policy id clashes",
    "A policy id may not repeat a built-in rule id or another policy's id.",
)
FEATURE_FIELD = _code(
    "MLC325",
    "feature view schema problem",
    "A feature view's fields must not repeat its entity's join keys or its source's timestamp.",
)
DRIFT_IMAGE = _code(
    "MLC326",
    "drift monitor has no image",
    "The drift job runs `monitoring.drift.image`, else the training image, else the serving image.",
)
UNSUPPORTED = _code(
    "MLC327",
    "not supported by a target",
    "The spec asks for something a generated output cannot express.",
)
BAD_QUERY = _code(
    "MLC328",
    "invalid PromQL query",
    "An events SLI's queries must be PromQL expressions that use {{window}} as their range.",
)
FEAST_UNSUPPORTED = _code(
    "MLC329",
    "feature store cannot express this",
    "What Feast 0.67 cannot take or serve: an entity with several join keys, an offline view "
    "read by a realtime model (served as null), a source no offline store reads (each store "
    "reads its own kind; the hybrid store routes file, bigquery, redshift and snowflake, one "
    "batch source per training-set call), a kafka stream without a batch source, a store "
    "without its connection settings; see docs/feast.md.",
)
# MLC4xx: compiling and writing outputs.
FOREIGN_FILE = _code(
    "MLC401",
    "output would overwrite a file mlopsc did not generate",
    "build overwrites or removes only regular files whose bytes are what it wrote (per "
    "mlopsc.lock.json); a hand-edited file, a file it did not write, a folder, a symbolic link "
    "or a special file in the way is kept and named, and nothing changes. Move it away, or run "
    "`mlopsc build --force` to take it over (never a folder with contents, never through a link).",
)
STALE = _code("MLC402", "generated file is stale", "Run mlopsc build to update it.")
MISSING_OUT = _code("MLC403", "generated file is missing", "Run mlopsc build to write it.")
EDITED = _code(
    "MLC404",
    "generated file was edited by hand",
    "Its content no longer matches the hash in mlopsc.lock.json; edit the spec instead.",
)
EXTRA = _code(
    "MLC405",
    "generated file no longer belongs",
    "The lock file lists it but the spec no longer produces it (run mlopsc build to remove it); "
    "or mlopsc did not write it but it sits in a folder mlopsc generates, where it would be "
    "deployed with the generated files (move it elsewhere); or an interrupted build left it "
    "(the next build removes it).",
)
WRITE_FAILED = _code("MLC406", "could not write the outputs", "An I/O error while writing.")
NO_LOCK = _code(
    "MLC407",
    "no lock file",
    "The output folder has no mlopsc.lock.json: it was never built, or built elsewhere.",
)
NEEDS_REPOSITORY = _code(
    "MLC408",
    "a target needs a key the spec does not set",
    "For example the argocd target needs metadata.repository. In a full build the target is "
    "left out with this warning; named with --only, it is an error.",
)
CANARY_PROMETHEUS = _code(
    "MLC339",
    "canary analysis has no Prometheus",
    "A canary of a model with an availability or latency SLO is judged against those SLIs, "
    "queried in the environment's Prometheus: by Argo Rollouts for runtime deployment, and by "
    "`mlopsc canary-check` in the promotion to the next environment for a KServe candidate "
    "when that environment needs approval. Set environments[].prometheus_url "
    "(docs/kubernetes.md).",
)
OBJECT_TOO_LARGE = _code(
    "MLC415",
    "a generated Kubernetes object is too large",
    "The API server refuses objects over about 1.5 MiB (etcd's limit); mlopsc writes none over "
    "1 MiB. The message names the object; make the spec key it comes from smaller.",
)
ARGOCD_TOO_LARGE = _code(
    "MLC416",
    "an Argo CD Application would hold more than Argo CD handles",
    "Argo CD's repo server reads at most 10M of manifests per directory source "
    "(reposerver.max.combined.directory.manifests.size), and an Application keeps the status "
    "of every resource it manages in its own object, which etcd caps at about 1.5 MB. mlopsc "
    "gives a large environment one Application per group of models; this one is still too "
    "large: its models' objects are unusually big or many. Make them smaller (features, SLOs, "
    "overrides), or build with --only to leave the argocd target out and deploy otherwise.",
)
CI_UNSAFE = _code(
    "MLC340",
    "value cannot be carried safely into CI",
    "Spec values reach the generated GitHub workflows, the GitLab pipeline, shells and "
    "CODEOWNERS as data. Text that those languages would evaluate is refused: `${{` (a GitHub "
    "Actions expression), `$[[` (a GitLab input), control characters such as a line break; in "
    "paths (included files, the spec's own file name) also `$` (GitLab expands variables in "
    "`rules:changes`) and `\\` (CODEOWNERS' escape character). See docs/security.md.",
)
DRIFT_NO_DATA = _code(
    "MLC341",
    "drift job without data to read",
    "The drift CronJob runs `mlopsc drift`, which compares `monitoring.drift.reference` with "
    "`monitoring.drift.current` (parquet files or folders). Without both it has nothing to "
    "measure and the drift SLO sees no data. See docs/monitoring.md.",
)
DRIFT_METRIC_TYPE = _code(
    "MLC342",
    "drift statistic does not fit the feature's type",
    "`ks` and `wasserstein` compare numeric distributions; for string, bool or bytes features "
    "use `psi`, which compares the shares of each category.",
)
REGISTRY_UNRESOLVED = _code(
    "MLC350",
    "registry reference without a lock entry",
    "An artifact URI that names a registry (models:/NAME@ALIAS, models:/NAME/VERSION served by "
    "KServe, dvc://PATH, lfs://PATH) or a source with `dvc:` is read from mlops.lock.yaml beside "
    "the spec, which `mlopsc resolve` writes by asking the registry. build, check, diff and "
    "validate never call a registry. Run `mlopsc resolve` and commit the lock. See "
    "docs/versioning.md.",
)
REGISTRY_DIGEST = _code(
    "MLC351",
    "artifact digest disagrees with the registry",
    "The spec's artifact.digest must equal the content digest the registry reported when "
    "`mlopsc resolve` ran (recorded in mlops.lock.yaml): the model served would not be the one "
    "the spec pins.",
)
LOCK_INVALID = _code(
    "MLC352",
    "mlops.lock.yaml is malformed",
    "The lock is written by `mlopsc resolve`; a hand edit or a merge broke it. Run "
    "`mlopsc resolve` again.",
)
REGISTRY_STORAGE = _code(
    "MLC353",
    "registry gives no storage URI the serving runtime can download",
    "KServe's storage initializer downloads s3://, gs://, https://, http://, pvc://, hdfs:// and "
    "webhdfs:// URIs. The lock records the storage URI the registry reported for the artifact; "
    "when there is none (a Git LFS file) or it is a local path, serve the artifact from "
    "storage KServe reaches, or use runtime 'deployment'.",
)
LATENCY_BUCKET = _code(
    "MLC330",
    "latency threshold is not a histogram bucket",
    "A latency SLI counts requests in the histogram bucket whose upper bound is the threshold. "
    "KServe's model server uses prometheus_client's default buckets (5ms, 10ms, 25ms, 50ms, "
    "75ms, 100ms, 250ms, 500ms, 750ms, 1s, 2.5s, 5s, 7.5s, 10s); any other threshold matches no "
    "bucket and the SLI has no data.",
)


def codes() -> dict[str, Code]:
    """Every registered MLC code."""
    return dict(_CODES)


@dataclass(frozen=True)
class Diagnostic:
    """One problem at one place."""

    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)


@dataclass
class Sink:
    """Collects diagnostics; every stage reports here and carries on."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, Severity.ERROR, message, span, hint))

    def warning(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, Severity.WARNING, message, span, hint))

    def note(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, Severity.NOTE, message, span, hint))

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        """Deduplicated and sorted by file, line, column."""
        return sorted(set(self.items), key=Diagnostic.sort_key)


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The nearest valid name for a typo, as a hint, or None."""
    pool = sorted(set(choices))
    match = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not match:
        lowered = {c.lower(): c for c in pool}
        match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        match = [lowered[m] for m in match]
    if not match and len(word) >= 3:
        # abbreviations ('prod' for 'production') score low on similarity but are obvious
        prefixed = [c for c in pool if c.lower().startswith(word.lower())]
        match = prefixed if len(prefixed) == 1 else []
    return f"did you mean '{match[0]}'?" if match else None


# C0 and C1 controls, DEL, line and paragraph separators, the byte-order mark, zero-width
# characters and bidirectional overrides ("Trojan Source"): what could forge a line or hide
# text in a terminal or a log.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# What json.dumps leaves raw: C0 characters it escapes itself (a raw newline is layout).
_INVISIBLE = re.compile("[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def printable(text: str) -> str:
    """`text` with every control or invisible character written as an escape (`\\n`, `\\x1b`),
    so that a name from the spec cannot start a new line or rewrite a terminal."""
    return UNPRINTABLE.sub(_escape_char, text)


def char_name(char: str) -> str:
    """A control character as a message names it: 'a newline (U+000A)'."""
    names = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL"}
    return f"{names.get(char, 'a control character')} (U+{ord(char):04X})"


def render_text(diagnostics: Sequence[Diagnostic]) -> str:
    lines: list[str] = []
    for d in diagnostics:
        lines.append(
            f"{printable(d.span.file)}:{d.span.line}:{d.span.column}: "
            f"{d.severity.value}[{d.code}]: {printable(d.message)}"
        )
        if d.hint:
            lines.append(f"  hint: {printable(d.hint)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _json_text(document: object) -> str:
    """JSON with every control or invisible character escaped (json escapes only C0 ones)."""
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    return _json_text(
        [
            {
                "file": d.span.file,
                "line": d.span.line,
                "column": d.span.column,
                "severity": d.severity.value,
                "code": d.code,
                "message": d.message,
                "hint": d.hint,
            }
            for d in diagnostics
        ]
    )


def _gh_escape(text: str, *, prop: bool) -> str:
    # Workflow-command escaping, as the actions/toolkit does it.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    out: list[str] = []
    for d in diagnostics:
        kind = {"error": "error", "warning": "warning", "note": "notice"}[d.severity.value]
        message = printable(d.message) + (f"\n{printable(d.hint)}" if d.hint else "")
        props = (
            f"file={_gh_escape(printable(d.span.file), prop=True)},line={d.span.line},"
            f"col={d.span.column},title={_gh_escape(d.code, prop=True)}"
        )
        out.append(f"::{kind} {props}::{_gh_escape(message, prop=False)}")
    return "\n".join(out) + ("\n" if out else "")


def render_sarif(diagnostics: Sequence[Diagnostic], *, version: str, rules: dict[str, str]) -> str:
    """SARIF 2.1.0, one run; `rules` maps every code used to its short description."""
    used = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(used)}
    level = {"error": "error", "warning": "warning", "note": "note"}
    run = {
        "tool": {
            "driver": {
                "name": "mlopsc",
                "version": version,
                "informationUri": "https://github.com/mlopsc/mlopsc",
                "rules": [
                    {
                        "id": code,
                        "shortDescription": {"text": rules.get(code, code)},
                        "helpUri": "https://github.com/mlopsc/mlopsc#diagnostics",
                    }
                    for code in used
                ],
            }
        },
        "results": [
            {
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": level[d.severity.value],
                "message": {"text": d.message + (f" ({d.hint})" if d.hint else "")},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": d.span.file},
                            "region": {"startLine": d.span.line, "startColumn": d.span.column},
                        }
                    }
                ],
            }
            for d in diagnostics
        ],
    }
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }
    return _json_text(doc)
