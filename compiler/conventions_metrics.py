"""The metrics mlopsc reads and writes, in one place: the SLI series per SLI kind and serving
runtime, the drift gauge its drift job pushes, and the labels and record names of its SLO
rules. Every target that names a metric (Prometheus rules and their promtool tests, Grafana,
the Kubernetes analysis and drift jobs) reads it here, so that they agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- labels of everything the SLO rules record and alert on --------------------------------
PROJECT = "project"
SLO = "slo"
MODEL = "model"
OWNER = "owner"
ENVIRONMENT = "environment"
NAMESPACE = "namespace"
SEVERITY = "severity"
BURN_WINDOW = "burn_window"  # which window pair of a burn-rate alert fired, e.g. 5m1h

# --- recording rules -----------------------------------------------------------------------
BAD_RECORD = "slo:sli_error:bool"
OBJECTIVE_RECORD = "slo:objective:ratio"
BUDGET_RECORD = "slo:error_budget:ratio"
PERIOD_DAYS_RECORD = "slo:time_period:days"
CURRENT_BURN_RECORD = "slo:current_burn_rate:ratio"
PERIOD_ERROR_RECORD = "slo:period_error:ratio"
PERIOD_BURN_RECORD = "slo:period_burn_rate:ratio"
REMAINING_RECORD = "slo:period_error_budget_remaining:ratio"


def error_ratio_record(window: str) -> str:
    """slo:sli_error:ratio_rate5m: the SLI's error ratio over a window."""
    return f"slo:sli_error:ratio_rate{window}"


def requests_record(window: str) -> str:
    """slo:sli_requests:rate5m: requests (or events) per second over a window."""
    return f"slo:sli_requests:rate{window}"


# --- the series an SLI reads ---------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    """One label matcher; `sample` is a value it matches (what synthetic test series carry)."""

    label: str
    value: str
    regex: bool = False
    sample: str = ""

    @property
    def example(self) -> str:
        return self.sample or self.value


@dataclass(frozen=True)
class Requests:
    """A request counter with a status-code label (availability SLIs)."""

    metric: str
    matchers: tuple[Matcher, ...]
    code_label: str
    note: str

    def errors(self) -> tuple[Matcher, ...]:
        return (*self.matchers, Matcher(self.code_label, "5..", regex=True, sample="500"))


@dataclass(frozen=True)
class Histogram:
    """A latency histogram: `<prefix>_bucket{le}` and `<prefix>_count` (latency SLIs)."""

    prefix: str
    matchers: tuple[Matcher, ...]
    note: str

    @property
    def bucket(self) -> str:
        return f"{self.prefix}_bucket"

    @property
    def count(self) -> str:
        return f"{self.prefix}_count"


def requests(runtime: str, object_name: str) -> Requests:
    """The request counter of a model's server on `runtime` (deployment | kserve)."""
    if runtime == "kserve":
        # KServe's model server exports only latency histograms, no status code: errors come
        # from the Istio sidecar or gateway in front of the predictor.
        return Requests(
            "istio_requests_total",
            (
                Matcher("reporter", "destination"),
                Matcher(
                    "destination_service_name",
                    f"{object_name}-predictor.*",
                    regex=True,
                    sample=f"{object_name}-predictor",
                ),
            ),
            "response_code",
            "Istio sidecar or gateway; KServe's model server exports no status code",
        )
    return Requests(
        "http_requests_total",
        (Matcher("service", object_name),),
        "code",
        "a ServiceMonitor on the generated Service sets service and namespace",
    )


def histogram(runtime: str, object_name: str) -> Histogram:
    """The request latency histogram of a model's server on `runtime`."""
    if runtime == "kserve":
        return Histogram(
            "request_predict_seconds",
            (Matcher("model_name", object_name),),
            "KServe model server; model_name is the InferenceService name",
        )
    return Histogram(
        "http_request_duration_seconds",
        (Matcher("service", object_name),),
        "the usual HTTP server histogram",
    )


DRIFT_METRIC = "mlopsc_feature_drift_score"
DRIFT_LABELS = (MODEL, "feature")  # plus the namespace grouping key of the push
FRESHNESS_METRIC = "kube_cronjob_status_last_successful_time"
FRESHNESS_LABEL = "cronjob"


def drift(model: str, feature: str) -> tuple[str, tuple[Matcher, ...]]:
    """The gauge the drift job pushes for one feature of a model (higher is more drift)."""
    return DRIFT_METRIC, (Matcher(MODEL, model), Matcher("feature", feature))


def freshness(cronjob: str) -> tuple[str, tuple[Matcher, ...]]:
    """kube-state-metrics' last successful run of the training CronJob."""
    return FRESHNESS_METRIC, (Matcher(FRESHNESS_LABEL, cronjob),)
