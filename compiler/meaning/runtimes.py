"""Meaning checks of what the generated outputs' consumers cannot express: KServe's
storage and histograms, PromQL shape. Mixed into the meaning checker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler import diagnostics as dx
from compiler.registry.refs import parse_ref
from compiler.spec.types import duration_seconds

if TYPE_CHECKING:
    from compiler.diagnostics import Sink
    from compiler.load import Path, SourceMap
    from compiler.meaning import Index
    from compiler.spec.models import Model, Project, Serving

# prometheus_client's default Histogram buckets, which KServe's model server uses (seconds).
KSERVE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


# Model formats KServe serves with a runtime other than its own Python model server, which
# alone exports the request_*_seconds histograms (KServe's "Prometheus Metrics" page): the
# latency SLI would read nothing unless serving.image brings a KServe model server.
OTHER_SERVERS = {"pytorch": "TorchServe", "tensorflow": "TensorFlow Serving", "onnx": "Triton"}


class RuntimeChecks:
    """Checks that need the checker's tables; `err` is the checker's."""

    p: Project
    ix: Index
    smap: SourceMap
    sink: Sink

    def err(self, code: str, message: str, path: Path, hint: str | None = None) -> None:
        raise NotImplementedError

    def latency_bucket(self, model: Model, threshold: str, path: Path) -> None:
        """KServe's histograms have fixed buckets; a threshold between them reads nothing. Any
        environment that serves the model on KServe counts (`serving.overrides`)."""
        kserve = [s for s in self.servings(model) if s.runtime == "kserve" and s.mode == "realtime"]
        if not kserve:
            return
        server = OTHER_SERVERS.get(model.framework)
        if server is not None and any(s.image is None for s in kserve):
            self.sink.warning(
                dx.SLI_MISFIT,
                f"a latency SLI on KServe reads request_predict_seconds, which KServe's own model "
                f"server exports; a {model.framework} model is served by {server}, which does "
                "not: the SLI would have no data",
                self.smap.span(path),
                hint="serve it with a KServe model server image (serving.image), or use an "
                "events SLI on the runtime's own metrics",
            )
            return
        seconds = duration_seconds(threshold)
        if any(abs(seconds - b) < 1e-9 for b in KSERVE_BUCKETS):
            return
        nearest = min(KSERVE_BUCKETS, key=lambda b: abs(b - seconds))
        shown = f"{round(nearest * 1000)}ms" if nearest < 1 else f"{nearest:g}s"
        self.sink.warning(
            dx.LATENCY_BUCKET,
            f"latency threshold {threshold} is not a bucket of KServe's request_predict_seconds "
            "histogram: the SLI would have no data",
            self.smap.span(path),
            hint=f"use a bucket boundary, e.g. {shown}",
        )

    def servings(self, model: Model) -> list[Serving]:
        """The model's base serving and its serving in each declared environment it overrides
        (those that validate)."""
        from compiler.meaning import valid_servings

        return valid_servings(model, self.ix.environments)

    def kserve(self, model: Model, base: Path) -> None:
        """What KServe's storage initializer and runtimes cannot serve."""
        servings = self.servings(model)
        if not any(s.mode == "realtime" and s.runtime == "kserve" for s in servings):
            if model.candidate is not None:
                self.err(
                    dx.SERVING_MODE,
                    "a candidate is served by a KServe canary; this model never serves on "
                    "runtime 'kserve'",
                    (*base, "candidate"),
                    hint="with runtime 'deployment', change version and artifact: Argo "
                    "Rollouts canaries the new pods next to the old ones",
                )
            return
        if model.candidate is not None and parse_ref(model.candidate.artifact.uri) is not None:
            self.err(
                dx.UNSUPPORTED,
                "KServe cannot download a registry URI (models:/, dvc://, lfs://), and the "
                "candidate's artifact is not resolved by mlops.lock.yaml",
                (*base, "candidate", "artifact", "uri"),
                hint="give the candidate's storage URI (s3://, gs://, https://)",
            )
        # The model's own registry URI is served from the storage URI recorded in
        # mlops.lock.yaml: compiler.meaning.registry checks there is one KServe can download.
        if model.framework == "custom" and not any(
            s.image for s in servings if s.runtime == "kserve"
        ):
            self.err(
                dx.SERVING_IMAGE,
                "a custom-framework model on KServe needs serving.image (there is no built-in runtime)",
                (*base, "framework"),
            )


def promql_problem(query: str) -> str | None:
    """A cheap structural check of a PromQL query with {{window}}; promtool judges the rest."""
    if "{{window}}" not in query.replace(" ", ""):
        return "the query must use {{window}} as its range, e.g. rate(x[{{window}}])"
    text = query.replace("{{window}}", "5m")
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return f"unbalanced '{ch}'"
    if quote:
        return "unterminated string"
    if stack:
        return f"unclosed '{stack[-1]}'"
    return None
