"""Small helpers shared by the unit tests: write a spec, run one or all front-end stages."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compiler.diagnostics import Diagnostic, Sink
from compiler.load import Document, load_spec
from compiler.pipeline import Checked, check_spec

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2027, 1, 1)
D1 = "sha256:" + "5d41402abc4b2a76b9719d911017c592" * 2
D2 = "sha256:" + "7d793037a0760186574b0282f2f435e7" * 2

# A small spec that passes every stage with no diagnostics at all (checked in test_meaning).
BASE = f"""\
apiVersion: mlopsc/v1
kind: MLOpsProject
metadata:
  name: shop
  owner: ml
teams:
  - name: ml
    email: ml@example.com
environments:
  - name: staging
    namespace: shop-staging
  - name: production
    namespace: shop-prod
    approval: {{required: true, reviewers: [ml]}}
sources:
  - name: orders
    kind: file
    path: s3://shop/orders/
entities:
  - name: customer
    join_keys: [customer_id]
features:
  - name: customer_stats
    entity: customer
    source: orders
    fields:
      - {{name: order_count_30d, dtype: int64}}
      - {{name: basket_avg_30d, dtype: float64}}
models:
  - name: recommender
    version: 1.0.0
    framework: sklearn
    artifact: {{uri: s3://shop/models/recommender/1.0.0/}}
    features: [customer_stats:order_count_30d]
    training:
      image: ghcr.io/shop/train@{D1}
      schedule: "0 3 * * *"
      data: [orders]
      resources: {{cpu: "1", memory: 2Gi}}
    serving:
      mode: realtime
      image: ghcr.io/shop/serve@{D2}
      resources: {{cpu: 500m, memory: 1Gi}}
slos:
  - name: recommender-availability
    model: recommender
    objective: 99.5
    sli:
      availability: {{}}
governance:
  frameworks: [baseline]
"""


def edit(text: str, *pairs: tuple[str, str]) -> str:
    """Replace each `old` (which must occur) by `new`, once."""
    for old, new in pairs:
        assert old in text, f"not in the spec: {old!r}"
        text = text.replace(old, new, 1)
    return text


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Write files under folder; return the path of the first one."""
    paths = []
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        paths.append(path)
    return paths[0]


def load_text(folder: Path, text: str | bytes, **more: str) -> tuple[Document | None, Sink]:
    sink = Sink()
    path = write(folder, {"mlops.yaml": text, **more})
    return load_spec(str(path), sink), sink


def check_text(folder: Path, text: str, **more: str) -> tuple[Checked | None, Sink]:
    sink = Sink()
    path = write(folder, {"mlops.yaml": text, **more})
    return check_spec(str(path), sink, on=TODAY), sink


def codes(sink: Sink) -> list[str]:
    return [d.code for d in sink.sorted()]


def only(sink: Sink, code: str) -> Diagnostic:
    found = [d for d in sink.sorted() if d.code == code]
    assert len(found) == 1, [(d.code, d.message) for d in sink.sorted()]
    return found[0]


def lines_executed(files: set[str], work: Callable[[], object]) -> int:
    """How many lines of the given source files `work()` executes (a complexity measure that
    does not depend on the machine's speed)."""
    return sum(lines_by_file(lambda name: name in files, work).values())


def lines_by_file(traced: Callable[[str], bool], work: Callable[[], object]) -> dict[str, int]:
    """Lines `work()` executes in each source file that `traced(file name)` accepts."""
    counts: dict[str, int] = {}
    seen: dict[str, bool] = {}

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        name = frame.f_code.co_filename
        wanted = seen.get(name)
        if wanted is None:
            wanted = seen[name] = traced(name)
        if wanted:
            if event == "line":
                counts[name] = counts.get(name, 0) + 1
            return tracer
        return None

    sys.settrace(tracer)
    try:
        work()
    finally:
        sys.settrace(None)
    return counts
