"""compiler/meaning: references, uniqueness and cross-field sense."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import BASE, check_text, codes, edit, only

from compiler import diagnostics as dx
from compiler.meaning import merged_serving, promql_problem


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_base_has_no_diagnostics_and_resolves_features(tmp_path: Path) -> None:
    checked, sink = check_text(tmp_path, BASE)
    assert sink.items == [] and checked is not None
    refs = checked.index.model_features["recommender"]
    assert [r.ref for r in refs] == ["customer_stats:order_count_30d"]
    assert checked.index.resolve_feature("customer_stats") is not None
    assert len(checked.index.resolve_feature("customer_stats") or []) == 2
    assert checked.index.resolve_feature("customer_stats:nope") is None
    assert checked.index.owner_of(checked.project.models[0]) == "ml"


def test_whole_view_reference(tmp_path: Path) -> None:
    checked, _ = check_text(
        tmp_path,
        edit(
            BASE,
            (
                "    features: [customer_stats:order_count_30d]",
                "    features: [customer_stats, customer_stats:basket_avg_30d]",
            ),
        ),
    )
    assert checked is not None
    assert [r.field for r in checked.index.model_features["recommender"]] == [
        "order_count_30d",
        "basket_avg_30d",
    ]


@pytest.mark.parametrize(
    ("old", "new", "code", "message"),
    [
        ("  owner: ml\n", "  owner: mlx\n", dx.UNKNOWN_TEAM, "unknown team 'mlx'"),
        (
            "    source: orders\n",
            "    source: ordrs\n",
            dx.UNKNOWN_SOURCE,
            "unknown source 'ordrs'",
        ),
        (
            "    entity: customer\n",
            "    entity: client\n",
            dx.UNKNOWN_ENTITY,
            "unknown entity 'client'",
        ),
        (
            "[customer_stats:order_count_30d]",
            "[customer_stats:order_count]",
            dx.UNKNOWN_FEATURE,
            "unknown feature 'customer_stats:order_count'",
        ),
        (
            "    model: recommender\n",
            "    model: ranker\n",
            dx.UNKNOWN_MODEL,
            "unknown model 'ranker'",
        ),
        (
            "      data: [orders]",
            "      data: [orders, web]",
            dx.UNKNOWN_SOURCE,
            "unknown source 'web'",
        ),
        ("reviewers: [ml]", "reviewers: [ops]", dx.UNKNOWN_TEAM, "unknown team 'ops'"),
        (
            "      mode: realtime\n",
            "      mode: batch\n      schedule: '0 1 * * *'\n",
            dx.SLI_MISFIT,
            "an availability SLI needs a realtime model",
        ),
        ("      availability: {}", "      latency: {threshold: 1s}\n", None, None),
        ('      schedule: "0 3 * * *"\n', "", None, None),
        (
            "    path: s3://shop/orders/\n",
            "    path: s3://shop/orders/\n    bootstrap_servers: k:9092\n",
            dx.SOURCE_LOCATION,
            "only kafka sources take 'bootstrap_servers'",
        ),
        (
            "      - {name: basket_avg_30d, dtype: float64}",
            "      - {name: customer_id, dtype: string}",
            dx.FEATURE_FIELD,
            "field 'customer_id' is a join key of its entity",
        ),
        (
            "    namespace: shop-prod\n",
            "    namespace: shop-staging\n",
            dx.DUPLICATE_NAME,
            "namespace 'shop-staging' is used by two environments on the same cluster",
        ),
    ],
)
def test_meaning_checks(
    tmp_path: Path, old: str, new: str, code: str | None, message: str | None
) -> None:
    checked, sink = check_text(tmp_path, edit(BASE, (old, new)))
    if code is None:
        assert sink.items == [] and checked is not None
        return
    assert checked is None
    d = only(sink, code)
    assert d.message.startswith(message or "")


def test_freshness_needs_a_schedule(tmp_path: Path) -> None:
    text = edit(
        BASE,
        ('      schedule: "0 3 * * *"\n', ""),
        ("      availability: {}", "      freshness: {max_age: 2d}"),
    )
    _, sink = check_text(tmp_path, text)
    d = only(sink, dx.SLI_MISFIT)
    assert (d.span.line, d.span.column) == (48, 18)


def test_freshness_of_a_model_trained_in_ci_is_refused(tmp_path: Path) -> None:
    """The SLI reads the training CronJob's last success; CI training runs no CronJob, so the
    SLO would only ever see no data."""
    freshness = ("      availability: {}", "      freshness: {max_age: 2d}")
    text = edit(
        BASE, ("      data: [orders]\n", "      data: [orders]\n      runs_on: ci\n"), freshness
    )
    _, sink = check_text(tmp_path, text)
    d = only(sink, dx.SLI_MISFIT)
    assert "trains in CI" in d.message and d.hint and "runs_on: kubernetes" in d.hint
    assert (d.span.line, d.span.column) == (50, 18)
    checked, sink = check_text(tmp_path, edit(BASE, freshness))
    assert checked is not None, sink.items  # trained on Kubernetes: fine


DRIFT_JOB = """\
    monitoring:
      drift:
        features: [customer_stats]
        threshold: 0.2
        reference: s3://shop/reference/
        current: s3://shop/current/
        pushgateway: http://pushgateway.monitoring:9091
"""


def test_drift_sli_on_a_feature_the_model_does_not_use(tmp_path: Path) -> None:
    text = edit(
        BASE,
        (
            "      availability: {}",
            "      drift: {feature: customer_stats:basket_avg_30d, threshold: 0.1}",
        ),
    )
    _, sink = check_text(tmp_path, text)
    assert "which model 'recommender' does not use" in only(sink, dx.SLI_MISFIT).message
    text = edit(
        BASE,
        (
            "      availability: {}",
            "      drift: {feature: customer_stats:order_count_30d, threshold: 0.1}",
        ),
        (
            "    serving:\n",
            DRIFT_JOB.replace("[customer_stats]", "[customer_stats:order_count_30d]")
            + "    serving:\n",
        ),
    )
    checked, sink = check_text(tmp_path, text)
    assert checked is not None and sink.items == []


@pytest.mark.parametrize(
    ("job", "message", "where"),
    [
        ("", "model 'recommender' has no drift job", (49, 14)),
        (
            DRIFT_JOB.replace("[customer_stats]", "[customer_stats:basket_avg_30d]"),
            "which the drift job of model 'recommender' does not score",
            (56, 24),
        ),
        (
            DRIFT_JOB.replace("        pushgateway: http://pushgateway.monitoring:9091\n", ""),
            "has no pushgateway, so it pushes nothing",
            (55, 14),
        ),
    ],
)
def test_a_drift_sli_needs_a_drift_job_that_pushes_its_feature(
    tmp_path: Path, job: str, message: str, where: tuple[int, int]
) -> None:
    """The drift SLI reads mlopsc_feature_drift_score, which only the model's drift job
    pushes, per feature it scores, to its Pushgateway: without one of these the SLO would only
    ever see no data."""
    text = edit(
        BASE,
        ("    features: [customer_stats:order_count_30d]", "    features: [customer_stats]"),
        (
            "      availability: {}",
            "      drift: {feature: customer_stats:order_count_30d, threshold: 0.1}",
        ),
        ("    serving:\n", job + "    serving:\n"),
    )
    _, sink = check_text(tmp_path, text)
    d = only(sink, dx.SLI_MISFIT)
    assert message in d.message and d.hint
    assert (d.span.line, d.span.column) == where


def test_overrides_are_validated_like_the_base(tmp_path: Path) -> None:
    over = "      overrides:\n        staging: {autoscaling: {min_replicas: 4}}\n        production: {rollout: {strategy: canary}}\n        prod: {port: 9000}\n"
    _, sink = check_text(
        tmp_path,
        edit(
            BASE,
            (
                "      resources: {cpu: 500m, memory: 1Gi}\n",
                "      resources: {cpu: 500m, memory: 1Gi}\n" + over,
            ),
        ),
    )
    assert codes(sink) == [dx.REPLICAS, dx.ROLLOUT, dx.UNKNOWN_ENV]
    found = {d.code: d for d in sink.sorted()}
    assert (
        found[dx.REPLICAS].message
        == "min_replicas 4 is above max_replicas 3 (in environment 'staging')"
    )
    assert (found[dx.REPLICAS].span.line, found[dx.REPLICAS].span.column) == (45, 47)
    assert found[dx.UNKNOWN_ENV].hint == "did you mean 'production'?"


def test_null_in_an_override_clears_the_base(tmp_path: Path) -> None:
    base = "      rollout: {strategy: canary, canary_percent: 10}\n"
    over = (
        "      overrides:\n        staging: {rollout: {strategy: rolling, canary_percent: null}}\n"
    )
    text = edit(
        BASE,
        (
            "      resources: {cpu: 500m, memory: 1Gi}\n",
            "      resources: {cpu: 500m, memory: 1Gi}\n" + base + over,
        ),
        # production keeps the canary, which Argo Rollouts judges in its Prometheus
        (
            "    namespace: shop-prod\n",
            "    namespace: shop-prod\n    prometheus_url: http://p:9090\n",
        ),
    )
    checked, sink = check_text(tmp_path, text)
    assert sink.items == [] and checked is not None
    model = checked.project.models[0]
    assert merged_serving(model, "staging").rollout.canary_percent is None
    assert merged_serving(model, "production").rollout.canary_percent == 10


def test_duplicate_policy_ids(tmp_path: Path) -> None:
    pol = (
        "  policies:\n" + "    - {id: p, description: d, applies_to: model, require: 'true'}\n" * 2
    )
    _, sink = check_text(
        tmp_path, edit(BASE, ("  frameworks: [baseline]\n", "  frameworks: [baseline]\n" + pol))
    )
    assert codes(sink) == [dx.DUPLICATE_RULE]


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("sum(rate(x[{{window}}]))", None),
        ('sum(rate(x{a="("}[{{ window }}]))', None),
        ("sum(rate(x[5m]))", "the query must use {{window}}"),
        ("sum(rate(x[{{window}}])", "unclosed '('"),
        ("sum(rate(x[{{window}}])))", "unbalanced ')'"),
        ('x{a="b}[{{window}}]', "unterminated string"),
    ],
)
def test_promql_problem(query: str, problem: str | None) -> None:
    found = promql_problem(query)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem))


def _with_serving(extra: str) -> str:
    # canaries are judged by the SLOs in the environments' Prometheus
    prometheus = "    prometheus_url: http://prometheus.monitoring:9090\n"
    return edit(
        BASE,
        (
            "    namespace: shop-staging\n",
            "    namespace: shop-staging\n" + prometheus,
        ),
        ("    namespace: shop-prod\n", "    namespace: shop-prod\n" + prometheus),
        (
            "      resources: {cpu: 500m, memory: 1Gi}\n",
            "      resources: {cpu: 500m, memory: 1Gi}\n" + extra,
        ),
    )


def test_an_override_may_switch_the_rollout_strategy(tmp_path: Path) -> None:
    text = _with_serving(
        "      rollout: {strategy: canary, canary_percent: 5}\n"
        "      overrides:\n        staging: {rollout: {strategy: rolling}}\n"
    )
    checked, sink = check_text(tmp_path, text)
    assert sink.items == [] and checked is not None
    model = checked.project.models[0]
    staging = merged_serving(model, "staging").rollout
    assert (staging.strategy, staging.canary_percent) == ("rolling", None)
    production = merged_serving(model, "production").rollout
    assert (production.strategy, production.canary_percent) == ("canary", 5)


def test_a_rolling_base_may_canary_in_one_environment(tmp_path: Path) -> None:
    text = _with_serving(
        "      overrides:\n        production: {rollout: {strategy: canary, canary_percent: 20}}\n"
    )
    checked, sink = check_text(tmp_path, text)
    assert sink.items == [] and checked is not None
    assert merged_serving(checked.project.models[0], "production").rollout.canary_percent == 20


@pytest.mark.parametrize(
    ("extra", "column"),
    [
        # one mapping that sets both is still an error, at the override's key
        (
            "      rollout: {strategy: canary, canary_percent: 5}\n"
            "      overrides:\n        staging: {rollout: {strategy: rolling, canary_percent: 7}}\n",
            64,
        ),
        # a canary key under the base's rolling strategy
        ("      overrides:\n        staging: {rollout: {canary_percent: 7}}\n", 45),
    ],
)
def test_a_canary_key_without_canary_is_an_error(tmp_path: Path, extra: str, column: int) -> None:
    _, sink = check_text(tmp_path, _with_serving(extra))
    d = only(sink, dx.ROLLOUT)
    assert (d.span.line, d.span.column) == (
        48 if "rollout: {strategy: canary" in extra else 47,
        column,
    )
    assert d.message == "'canary_percent' needs strategy 'canary' (in environment 'staging')"


def test_an_override_may_switch_the_serving_mode(tmp_path: Path) -> None:
    # realtime with a canary in the base; batch scoring in staging: the realtime-only keys
    # (rollout, autoscaling, port, ...) of the base do not carry over, nor does a base
    # schedule into a realtime override.
    text = _with_serving(
        "      rollout: {strategy: canary, canary_percent: 5}\n"
        "      autoscaling: {min_replicas: 2, max_replicas: 4}\n"
        "      overrides:\n        staging: {mode: batch, schedule: '0 4 * * *'}\n"
    )
    text = text.replace("    sli:\n      availability: {}\n", "    sli:\n      availability: {}\n")
    checked, sink = check_text(tmp_path, text)
    assert sink.items == [] and checked is not None
    staging = merged_serving(checked.project.models[0], "staging")
    assert staging.mode == "batch" and staging.schedule == "0 4 * * *"
    assert staging.rollout.canary_percent is None and staging.autoscaling.min_replicas == 1
    production = merged_serving(checked.project.models[0], "production")
    assert production.mode == "realtime" and production.rollout.canary_percent == 5


def test_a_batch_base_may_serve_realtime_in_one_environment(tmp_path: Path) -> None:
    text = edit(
        BASE,
        ("      mode: realtime\n", "      mode: batch\n      schedule: '0 4 * * *'\n"),
        (
            "      resources: {cpu: 500m, memory: 1Gi}\n",
            "      resources: {cpu: 500m, memory: 1Gi}\n"
            "      overrides:\n        production: {mode: realtime}\n",
        ),
        ("    sli:\n      availability: {}\n", "    sli:\n      freshness: {max_age: 2d}\n"),
    )
    checked, sink = check_text(tmp_path, text)
    assert [d.code for d in sink.items if d.severity == "error"] == [], sink.items
    assert checked is not None
    production = merged_serving(checked.project.models[0], "production")
    assert production.mode == "realtime" and production.schedule is None
    # a schedule the override sets itself under realtime is still refused
    bad = text.replace("{mode: realtime}", "{mode: realtime, schedule: '0 5 * * *'}")
    _, sink = check_text(tmp_path, bad)
    assert only(sink, dx.SERVING_MODE).message == (
        "realtime serving takes no 'schedule' (in environment 'production')"
    )


def test_params_that_become_one_environment_variable_clash(tmp_path: Path) -> None:
    text = edit(
        BASE, ("      data: [orders]\n", "      data: [orders]\n      params: {lr: 1, LR: 2}\n")
    )
    _, sink = check_text(tmp_path, text)
    d = only(sink, dx.DUPLICATE_NAME)
    assert d.message == "params 'lr' and 'LR' become the same environment variable"
    assert (d.span.line, d.span.column) == (39, 23)


@pytest.mark.parametrize("key", ["BAD-NAME", "1x", "a b", "é"])
def test_params_keys_are_environment_variable_names(tmp_path: Path, key: str) -> None:
    text = edit(
        BASE, ("      data: [orders]\n", f"      data: [orders]\n      params: {{'{key}': 1}}\n")
    )
    _, sink = check_text(tmp_path, text)
    assert only(sink, dx.BAD_FORMAT).message == (
        f"'{key}' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
    )


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("1ms", "window: '1ms' is shorter than a day"),
        ("2h", "window: '2h' is shorter than a day"),
    ],
)
def test_slo_windows_shorter_than_a_day_are_refused(
    tmp_path: Path, window: str, message: str
) -> None:
    text = edit(BASE, ("    objective: 99.5\n", f"    objective: 99.5\n    window: {window}\n"))
    _, sink = check_text(tmp_path, text)
    assert only(sink, dx.OUT_OF_RANGE).message == message


@pytest.mark.parametrize("value", ["99999999999999999999w", "5300w", "36501d"])
def test_durations_past_a_century_are_refused(tmp_path: Path, value: str) -> None:
    text = edit(BASE, ("    objective: 99.5\n", f"    objective: 99.5\n    window: {value}\n"))
    _, sink = check_text(tmp_path, text)
    assert only(sink, dx.OUT_OF_RANGE).message == f"'{value}' is longer than 100 years (36500d)"


@pytest.mark.parametrize("suffix", ["train", "drift", "score"])
def test_a_model_may_not_be_named_after_another_models_job(tmp_path: Path, suffix: str) -> None:
    """A model's CronJobs label their pods with their own name (`<project>-<model>-train`) as
    app.kubernetes.io/instance, which a model named `<model>-train` selects its serving pods
    by: its Service and Rollout would pick the other model's job pods."""
    second = BASE[BASE.index("  - name: recommender\n") : BASE.index("slos:\n")].replace(
        "name: recommender", f"name: recommender-{suffix}", 1
    )
    _, sink = check_text(tmp_path, edit(BASE, ("slos:\n", second + "slos:\n")))
    d = only(sink, dx.DUPLICATE_NAME)
    assert f"model 'recommender-{suffix}' is named like the {suffix} job of model" in d.message
    assert (d.span.line, d.span.column) == (44, 11)
    other = second.replace(f"recommender-{suffix}", "recommender-v2", 1)
    _, sink = check_text(tmp_path, edit(BASE, ("slos:\n", other + "slos:\n")))
    assert dx.DUPLICATE_NAME not in codes(sink)


@pytest.mark.parametrize(
    ("framework", "image", "warned"),
    [
        ("pytorch", False, True),
        ("tensorflow", False, True),
        ("onnx", False, True),
        ("pytorch", True, False),
        ("sklearn", False, False),
    ],
)
def test_kserve_latency_sli_needs_a_runtime_that_exports_the_histogram(
    tmp_path: Path, framework: str, image: bool, warned: bool
) -> None:
    """KServe's own model server exports request_predict_seconds; TorchServe, TensorFlow
    Serving and Triton, which KServe picks for those formats, do not."""
    serving = "      mode: realtime\n      runtime: kserve\n"
    text = edit(
        BASE,
        ("    framework: sklearn\n", f"    framework: {framework}\n"),
        ("      mode: realtime\n", serving),
        ("      availability: {}", "      latency: {threshold: 250ms}"),
    )
    if not image:
        text = edit(
            text, ("      image: ghcr.io/shop/serve@", "      # image: ghcr.io/shop/serve@")
        )
    _, sink = check_text(tmp_path, text)
    found = [d for d in sink.sorted() if d.code == dx.SLI_MISFIT]
    assert [d.severity.value for d in found] == (["warning"] if warned else []), sink.items
    if warned:
        assert f"a {framework} model is served by" in found[0].message
        assert (found[0].span.line, found[0].span.column) == (50, 28)


def test_kserve_latency_checks_see_an_environment_that_overrides_the_runtime(
    tmp_path: Path,
) -> None:
    """A model served by a Deployment in staging and by KServe in production is judged by
    KServe's histogram there: the KServe latency checks look at every environment."""
    overrides = (
        "      resources: {cpu: 500m, memory: 1Gi}\n",
        "      resources: {cpu: 500m, memory: 1Gi}\n"
        "      overrides:\n        production: {runtime: kserve}\n",
    )
    latency = ("      availability: {}", "      latency: {threshold: 300ms}")
    _, sink = check_text(tmp_path, edit(BASE, overrides, latency))
    assert codes(sink) == [dx.LATENCY_BUCKET]
    _, sink = check_text(tmp_path, edit(BASE, latency))
    assert dx.LATENCY_BUCKET not in codes(sink)


@pytest.mark.parametrize("runtime", ["deployment", "kserve"])
def test_an_override_that_does_not_validate_is_reported_not_raised(
    tmp_path: Path, runtime: str
) -> None:
    """Checks that read the model's serving per environment (Feast's online views, KServe's
    storage and histograms) skip an override that does not validate; the override itself is
    reported at its place. A property test found `autoscaling: null` raising instead."""
    text = edit(
        BASE,
        ("      mode: realtime\n", f"      mode: realtime\n      runtime: {runtime}\n"),
        (
            "      resources: {cpu: 500m, memory: 1Gi}\n",
            "      resources: {cpu: 500m, memory: 1Gi}\n"
            "      overrides:\n        staging: {autoscaling: null}\n",
        ),
        ("      availability: {}", "      latency: {threshold: 250ms}"),
    )
    checked, sink = check_text(tmp_path, text)
    assert checked is None
    d = only(sink, dx.BAD_VALUE)
    assert "Autoscaling" in d.message and (d.span.line, d.span.column) == (46, 32)
