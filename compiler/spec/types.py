"""Lexical types of spec v1: names, identifiers, durations, quantities, cron, semver, images."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
IDENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
DURATION_RE = re.compile(r"^([0-9]+)(ms|s|m|h|d|w)$")
QUANTITY_RE = re.compile(
    r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]+)?$"
)
SEMVER_RE = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URI_RE = re.compile(r"^[a-z][a-z0-9+.-]*:[^\s]+$")
MLFLOW_RE = re.compile(
    r"^models:/(?P<name>[^/@\s]+)(/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z0-9_-]+))$"
)
# A file in the spec's repository, relative to the spec's folder: tracked by DVC (dvc://) or
# kept in Git LFS (lfs://); `mlopsc resolve` records its hash in mlops.lock.yaml.
REPO_FILE_RE = re.compile(
    r"^(?P<kind>dvc|lfs)://(?P<path>(?!/)(?!\.\.(/|$))(?!.*/\.\.(/|$))[^\s\\]+)$"
)
LABEL_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
POLICY_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
URL_RE = re.compile(r"^https?://[^\s/?#]+([/?#][^\s]*)?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
CRON_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
)
CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")


def _fail(kind: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, context or None)


def _name(value: str) -> str:
    if len(value) > 40 or not NAME_RE.fullmatch(value):
        raise _fail(
            "mlopsc_name",
            "'{value}' is not a valid name: lower-case letters, digits and '-', starting with a "
            "letter, ending with a letter or digit, at most 40 characters",
            value=value,
        )
    return value


def _ident(value: str) -> str:
    if not IDENT_RE.fullmatch(value):
        raise _fail(
            "mlopsc_ident",
            "'{value}' is not a snake_case identifier ([a-z][a-z0-9_]*)",
            value=value,
        )
    return value


# Prometheus refuses durations past 2^63 nanoseconds (292 years): a century is the bound.
MAX_DURATION_SECONDS = 100 * 365 * 86400


def _duration(value: str) -> str:
    match = DURATION_RE.fullmatch(value)
    if not match or int(match.group(1)) == 0:
        raise _fail(
            "mlopsc_duration",
            "'{value}' is not a duration: a positive integer and a unit (ms, s, m, h, d, w), e.g. 5m or 30d",
            value=value,
        )
    if len(match.group(1)) > 12 or duration_seconds(value) > MAX_DURATION_SECONDS:
        raise _fail("mlopsc_range", "'{value}' is longer than 100 years (36500d)", value=value)
    return value


def _to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def _quantity(value: str) -> str:
    if not QUANTITY_RE.fullmatch(value):
        raise _fail(
            "mlopsc_quantity",
            "'{value}' is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 2Gi)",
            value=value,
        )
    return value


def _cron_part(part: str, index: int) -> bool:
    low, high = CRON_RANGES[index]
    names = CRON_NAMES[index]
    for piece in part.split(","):
        body, _, step = piece.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return False
        if body == "*":
            continue
        bounds = body.split("-")
        if len(bounds) > 2:
            return False
        numbers: list[int] = []
        for bound in bounds:
            number = names.get(bound.lower()) if not bound.isdigit() else int(bound)
            if number is None or not low <= number <= high:
                return False
            numbers.append(number)
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            return False
    return True


def _cron(value: str) -> str:
    parts = value.split()
    if len(parts) != 5:
        raise _fail(
            "mlopsc_cron",
            "'{value}' is not a 5-field cron schedule (minute hour day-of-month month day-of-week)",
            value=value,
        )
    for index, part in enumerate(parts):
        if not _cron_part(part, index):
            raise _fail(
                "mlopsc_cron",
                "'{value}': the {field} field '{part}' is out of range or malformed",
                value=value,
                field=CRON_FIELDS[index],
                part=part,
            )
    return value


def _semver_input(value: Any) -> Any:
    # `version: 3.2` is the float 3.2 to YAML, and 3.10 would become 3.1: say so plainly.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _fail(
            "mlopsc_semver",
            "'{value}' was read as a number, not a semantic version: write MAJOR.MINOR.PATCH "
            'and quote it if needed, e.g. "3.2.0"',
            value=str(value),
        )
    return value


def _semver(value: str) -> str:
    if not SEMVER_RE.fullmatch(value):
        raise _fail(
            "mlopsc_semver",
            "'{value}' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 3.2.0)",
            value=value,
        )
    return value


def _digest(value: str) -> str:
    if not DIGEST_RE.fullmatch(value):
        raise _fail(
            "mlopsc_digest",
            "'{value}' is not a digest: sha256: and 64 lower-case hex characters",
            value=value,
        )
    return value


def _image(value: str) -> str:
    if len(value) > 512 or not IMAGE_RE.fullmatch(value):
        _, at, digest = value.rpartition("@")
        if at and IMAGE_RE.fullmatch(value[: -len(digest) - 1]) and not DIGEST_RE.fullmatch(digest):
            raise _fail(
                "mlopsc_digest",
                "'{value}': the digest '{digest}' is not sha256: and 64 lower-case hex characters",
                value=value,
                digest=digest,
            )
        if value != value.lower() and IMAGE_RE.fullmatch(_lower_repo(value)):
            raise _fail(
                "mlopsc_image",
                "'{value}' is not a valid image reference: the repository must be lower-case",
                value=value,
            )
        raise _fail(
            "mlopsc_image",
            "'{value}' is not a valid image reference (registry/repository[:tag][@sha256:...])",
            value=value,
        )
    return value


def _lower_repo(image: str) -> str:
    """The image with its repository part (before any tag or digest) lower-cased."""
    name, at, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    repo, tag = (name[:colon], name[colon:]) if colon > slash else (name, "")
    return repo.lower() + tag + at + digest


def _email(value: str) -> str:
    if not EMAIL_RE.fullmatch(value):
        raise _fail("mlopsc_format", "'{value}' is not an e-mail address", value=value)
    return value


def _uri(value: str) -> str:
    if not URI_RE.fullmatch(value):
        raise _fail(
            "mlopsc_format",
            "'{value}' is not a URI with a scheme (s3://, gs://, https://, models:/...)",
            value=value,
        )
    if value.startswith("models:/") and not MLFLOW_RE.fullmatch(value):
        raise _fail(
            "mlopsc_format",
            "'{value}' is not an MLflow registry URI; write models:/NAME/VERSION or "
            "models:/NAME@ALIAS",
            value=value,
        )
    if value.startswith(("dvc:", "lfs:")) and not REPO_FILE_RE.fullmatch(value):
        raise _fail(
            "mlopsc_format",
            "'{value}' is not a file of the spec's repository; write dvc://PATH or lfs://PATH "
            "with PATH relative to the spec's folder, without '..'",
            value=value,
        )
    return value


REPO_PATH_RE = re.compile(r"^(?!/)(?!\.\.(/|$))(?!.*/\.\.(/|$))[^\s\\:]+$")


def _repo_path(value: str) -> str:
    if not REPO_PATH_RE.fullmatch(value):
        raise _fail(
            "mlopsc_format",
            "'{value}' is not a path inside the repository: relative to the spec's folder, "
            "without '..', spaces, ':' or '\\'",
            value=value,
        )
    return value


DATA_URI_RE = re.compile(r"^(s3|gs|hdfs|abfs|file)://[^\s]+$")


def _data_uri(value: str) -> str:
    if not DATA_URI_RE.match(value):
        raise _fail(
            "mlopsc_format",
            "'{value}' is not a data location (s3://, gs://, hdfs://, abfs:// or file://)",
            value=value,
        )
    return value


def _url(value: str) -> str:
    if not URL_RE.fullmatch(value):
        raise _fail("mlopsc_format", "'{value}' is not an http(s) URL", value=value)
    return value


def _label_key(value: str) -> str:
    if len(value) > 253 or not LABEL_KEY_RE.fullmatch(value):
        raise _fail("mlopsc_format", "'{value}' is not a valid Kubernetes label key", value=value)
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not LABEL_VALUE_RE.fullmatch(value):
        raise _fail("mlopsc_format", "'{value}' is not a valid Kubernetes label value", value=value)
    return value


def _env_name(value: str) -> str:
    if len(value) > 128 or not ENV_NAME_RE.fullmatch(value):
        raise _fail(
            "mlopsc_format",
            "'{value}' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
            value=value,
        )
    return value


def _date(value: Any) -> _dt.date:
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail("mlopsc_date", "'{value}' is not a date (YYYY-MM-DD)", value=str(value))


def _policy_id(value: str) -> str:
    if not POLICY_ID_RE.fullmatch(value):
        raise _fail(
            "mlopsc_format",
            "'{value}' is not a policy id (a letter, then letters, digits, '-' or '_')",
            value=value,
        )
    return value


def _schema(pattern: str, description: str, **extra: Any) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": pattern, "description": description, **extra}
    )


Name = Annotated[
    str,
    AfterValidator(_name),
    _schema(NAME_RE.pattern, "DNS-1123 label, at most 40 characters", maxLength=40),
]
Ident = Annotated[str, AfterValidator(_ident), _schema(IDENT_RE.pattern, "snake_case identifier")]
Duration = Annotated[
    str,
    AfterValidator(_duration),
    _schema(DURATION_RE.pattern, "duration: integer and unit (ms, s, m, h, d, w)"),
]
Quantity = Annotated[
    str,
    BeforeValidator(_to_str),
    AfterValidator(_quantity),
    WithJsonSchema(
        {
            "type": ["string", "number"],
            "pattern": QUANTITY_RE.pattern,
            "description": "Kubernetes resource quantity, e.g. 500m or 2Gi",
        }
    ),
]
Cron = Annotated[
    str,
    AfterValidator(_cron),
    _schema(r"^\S+ \S+ \S+ \S+ \S+$", "5-field cron schedule"),
]
SemVer = Annotated[
    str,
    BeforeValidator(_semver_input),
    AfterValidator(_semver),
    _schema(SEMVER_RE.pattern, "semantic version, e.g. 3.2.0"),
]
Digest = Annotated[
    str, AfterValidator(_digest), _schema(DIGEST_RE.pattern, "sha256:<64 hex characters>")
]
Image = Annotated[
    str,
    AfterValidator(_image),
    _schema(
        re.sub(r"\?P<\w+>", "", IMAGE_RE.pattern),
        "OCI image reference, pinned by digest: repo@sha256:<hex>",
    ),
]
Email = Annotated[str, AfterValidator(_email), _schema(EMAIL_RE.pattern, "e-mail address")]
Uri = Annotated[
    str,
    AfterValidator(_uri),
    _schema(
        URI_RE.pattern,
        "URI: s3://, gs://, https://, models:/NAME/VERSION or models:/NAME@ALIAS (MLflow), "
        "dvc://PATH (DVC) or lfs://PATH (Git LFS)",
    ),
]
Url = Annotated[str, AfterValidator(_url), _schema(URL_RE.pattern, "http(s) URL")]
EnvName = Annotated[
    str,
    AfterValidator(_env_name),
    _schema(ENV_NAME_RE.pattern, "environment variable name", maxLength=128),
]


class FreeText:
    """Marks a string field as free text: it may hold newlines and tabs (compiler.spec.validate
    refuses every control character in any other string)."""

    def __repr__(self) -> str:
        return "FreeText()"


Text = Annotated[str, FreeText()]
DataUri = Annotated[
    str,
    AfterValidator(_data_uri),
    _schema(
        DATA_URI_RE.pattern, "parquet file or folder: s3://, gs://, hdfs://, abfs:// or file://"
    ),
]
RepoPath = Annotated[
    str,
    AfterValidator(_repo_path),
    _schema(REPO_PATH_RE.pattern, "path relative to the spec's folder", maxLength=1024),
]
LabelKey = Annotated[
    str, AfterValidator(_label_key), _schema(LABEL_KEY_RE.pattern, "Kubernetes label key")
]
LabelValue = Annotated[
    str,
    BeforeValidator(_to_str),
    AfterValidator(_label_value),
    _schema(LABEL_VALUE_RE.pattern, "Kubernetes label value", maxLength=63),
]
Date = Annotated[
    _dt.date,
    BeforeValidator(_date),
    WithJsonSchema({"type": "string", "format": "date", "description": "date, YYYY-MM-DD"}),
]
PolicyId = Annotated[str, AfterValidator(_policy_id), _schema(POLICY_ID_RE.pattern, "policy id")]


def duration_seconds(value: str) -> float:
    """Seconds in a validated duration string."""
    match = DURATION_RE.fullmatch(value)
    if not match:
        raise ValueError(value)
    return int(match.group(1)) * UNITS[match.group(2)]


def image_digest(image: str) -> str | None:
    """The sha256 digest an image is pinned to, or None."""
    match = IMAGE_RE.match(image)
    return match.group("digest") if match else None


def image_repository(image: str) -> str:
    """The repository part of an image reference (registry/path)."""
    match = IMAGE_RE.match(image)
    return match.group("repo") if match else image
