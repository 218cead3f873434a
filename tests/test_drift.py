"""`mlopsc drift`: real statistics on generated parquet, exported to a real Pushgateway and to a
textfile, under the metric name and labels the generated drift rules read."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compiler.conventions_metrics import DRIFT_METRIC
from compiler.drift import DriftError, score
from compiler.plan import expand_features
from tests.conftest import require_tool, run_mlopsc
from tests.helpers import BASE, edit

ROWS = 5_000


def write_samples(folder: Path) -> tuple[Path, Path]:
    """Reference and current parquet: basket_avg_30d shifted by 1.5 sd, order_count_30d stable."""
    rng = np.random.default_rng(7)
    ref = {
        "order_count_30d": rng.poisson(4, ROWS).astype("int64"),
        "basket_avg_30d": rng.normal(50.0, 10.0, ROWS),
        "segment": rng.choice(["a", "b", "c"], ROWS),
    }
    cur = {
        "order_count_30d": rng.poisson(4, ROWS).astype("int64"),
        "basket_avg_30d": rng.normal(65.0, 10.0, ROWS),
        "segment": rng.choice(["a", "b", "c"], ROWS),
    }
    paths = folder / "reference.parquet", folder / "current.parquet"
    for path, data in zip(paths, (ref, cur), strict=True):
        pq.write_table(pa.table(data), path)
    return paths


DRIFT_SPEC = edit(
    BASE,
    (
        "features: [customer_stats:order_count_30d]",
        "features: [customer_stats]\n"
        "    monitoring:\n"
        "      drift:\n"
        "        features: [customer_stats]\n"
        "        metric: psi\n"
        "        threshold: 0.2\n"
        "        reference: file://REF\n"
        "        current: file://CUR",
    ),
)


@pytest.mark.parametrize("metric", ["psi", "ks", "wasserstein"])
def test_only_the_shifted_feature_crosses_the_threshold(tmp_path: Path, metric: str) -> None:
    ref_path, cur_path = write_samples(tmp_path)
    ref, cur = pq.read_table(ref_path), pq.read_table(cur_path)
    shifted = score(metric, np.asarray(ref["basket_avg_30d"]), np.asarray(cur["basket_avg_30d"]))
    stable = score(
        metric,
        np.asarray(ref["order_count_30d"], dtype=float),
        np.asarray(cur["order_count_30d"], dtype=float),
    )
    # Usual thresholds: PSI 0.2, KS D 0.1, normed Wasserstein 0.1.
    threshold = {"psi": 0.2, "ks": 0.1, "wasserstein": 0.1}[metric]
    assert shifted > threshold > stable >= 0


def test_psi_of_categories_and_identical_samples() -> None:
    same = np.array(["a", "b", "a", "c"] * 50, dtype=object)
    assert score("psi", same, same) == pytest.approx(0.0, abs=1e-12)
    moved = np.array(["a"] * 190 + ["b"] * 10, dtype=object)
    assert score("psi", same, moved) > 0.2
    with pytest.raises(DriftError, match="numeric"):
        score("ks", same, moved)


def test_a_view_stands_for_each_of_its_fields(tmp_path: Path) -> None:
    from tests.helpers import check_text

    checked, sink = check_text(tmp_path, BASE)
    assert checked is not None, sink.sorted()
    views = checked.index.views
    assert expand_features(["customer_stats", "customer_stats:order_count_30d"], views) == (
        "customer_stats:basket_avg_30d",
        "customer_stats:order_count_30d",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    tool = require_tool("prometheus-pushgateway", "apt-get install -y prometheus-pushgateway")
    port = free_port()
    proc = subprocess.Popen(
        [tool, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the Pushgateway did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def metric_lines(text: str) -> dict[str, float]:
    """The drift series of a Prometheus text exposition: sorted label text -> value."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(DRIFT_METRIC + "{"):
            labels, _, value = line.rpartition(" ")
            body = labels[len(DRIFT_METRIC) + 1 : -1]
            pairs = sorted(p for p in body.split(",") if not p.startswith(("job=", "instance=")))
            out[",".join(pairs)] = float(value)
    return out


def test_spec_run_pushes_to_a_real_pushgateway(tmp_path: Path, pushgateway: str) -> None:
    ref, cur = write_samples(tmp_path)
    spec = tmp_path / "mlops.yaml"
    spec.write_text(DRIFT_SPEC.replace("REF", str(ref)).replace("CUR", str(cur)))
    done = run_mlopsc(
        "drift", str(spec), "--model", "recommender", "--environment", "production",
        "--pushgateway", pushgateway,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "customer_stats:basket_avg_30d psi=" in done.stdout
    lines = {line.split()[1]: line.split()[-1] for line in done.stdout.splitlines()}
    assert lines == {
        "customer_stats:basket_avg_30d": "DRIFT",
        "customer_stats:order_count_30d": "ok",
    }
    body = urllib.request.urlopen(pushgateway + "/metrics", timeout=5).read().decode()
    series = metric_lines(body)
    shifted = 'feature="customer_stats:basket_avg_30d",model="recommender",namespace="shop-prod"'
    stable = 'feature="customer_stats:order_count_30d",model="recommender",namespace="shop-prod"'
    assert set(series) == {shifted, stable}
    assert series[shifted] > 0.2 > series[stable]
    # The same run with --fail-on-drift says so with exit 1.
    again = run_mlopsc(
        "drift", str(spec), "--model", "recommender", "--environment", "production",
        "--fail-on-drift",
    )  # fmt: skip
    assert again.returncode == 1
    assert "drift above 0.2 on customer_stats:basket_avg_30d" in again.stderr


def test_flags_alone_write_a_textfile(tmp_path: Path) -> None:
    ref, cur = write_samples(tmp_path)
    prom = tmp_path / "drift.prom"
    done = run_mlopsc(
        "drift", "--model", "m", "--namespace", "ns", "--feature", "v:basket_avg_30d",
        "--metric", "ks", "--threshold", "0.1", "--reference", str(ref), "--current", str(cur),
        "--textfile", str(prom),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    series = metric_lines(prom.read_text())
    assert list(series) == ['feature="v:basket_avg_30d",model="m",namespace="ns"']


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "m"], "drift needs --namespace, --feature, --threshold"),
        (
            ["--model", "m", "--namespace", "n", "--feature", "v:nope", "--threshold", "1",
             "--reference", "REF", "--current", "CUR"],
            "no column",
        ),
        (
            ["--model", "m", "--namespace", "n", "--feature", "v:x", "--threshold", "1",
             "--reference", "/nonexistent.parquet", "--current", "CUR"],
            "cannot read /nonexistent.parquet",
        ),
    ],
)  # fmt: skip
def test_bad_runs_exit_2_with_a_reason(tmp_path: Path, args: list[str], message: str) -> None:
    ref, cur = write_samples(tmp_path)
    args = [a.replace("REF", str(ref)).replace("CUR", str(cur)) for a in args]
    done = run_mlopsc("drift", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_pushgateway_is_exit_2(tmp_path: Path) -> None:
    ref, cur = write_samples(tmp_path)
    done = run_mlopsc(
        "drift", "--model", "m", "--namespace", "n", "--feature", "v:basket_avg_30d",
        "--threshold", "1", "--reference", str(ref), "--current", str(cur),
        "--pushgateway", f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot push to" in done.stderr


def test_the_generated_cronjob_runs_this_command_and_the_rules_read_its_series(
    tmp_path: Path, pushgateway: str
) -> None:
    """Build a spec with a drift SLO, run the drift CronJob's own command against a real
    Pushgateway, and check that the series it pushed is the one the generated rules select."""
    import yaml

    ref, cur = write_samples(tmp_path)
    text = DRIFT_SPEC.replace("REF", str(ref)).replace("CUR", str(cur))
    text = text.replace(
        "        current: file://",
        f"        pushgateway: {pushgateway}\n        current: file://",
    )
    text += (
        "  - name: recommender-drift\n"
        "    model: recommender\n"
        "    objective: 99\n"
        "    sli:\n"
        "      drift: {feature: customer_stats:basket_avg_30d, threshold: 0.2}\n"
    )
    text = text.replace("governance:\n  frameworks: [baseline]\n", "") + (
        "governance:\n  frameworks: [baseline]\n"
    )
    spec = tmp_path / "mlops.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    built = run_mlopsc("build", str(spec), "-o", str(out))
    assert built.returncode == 0, built.stderr
    objects = yaml.safe_load_all((out / "kubernetes/production/model-recommender.yaml").read_text())
    (job,) = [
        o for o in objects if o["kind"] == "CronJob" and o["metadata"]["name"].endswith("-drift")
    ]
    (box,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    command = box["command"]
    assert command[:2] == ["mlopsc", "drift"]
    done = run_mlopsc(*command[1:])
    assert done.returncode == 0, done.stderr
    body = urllib.request.urlopen(pushgateway + "/metrics", timeout=5).read().decode()
    pushed = metric_lines(body)
    shifted = 'feature="customer_stats:basket_avg_30d",model="recommender",namespace="shop-prod"'
    assert shifted in pushed
    rules = (out / "monitoring/prometheus/rules").glob("*.yaml")
    selectors = [r for r in (p.read_text() for p in rules) if DRIFT_METRIC in r]
    assert selectors, "no rule reads the drift gauge"
    expected = ['model="recommender"', 'feature="customer_stats:basket_avg_30d"', "shop-prod"]
    assert all(part in selectors[0] for part in expected), selectors[0]


def test_validate_warns_when_the_drift_job_has_no_data(tmp_path: Path) -> None:
    from tests.helpers import check_text, only

    text = edit(DRIFT_SPEC, ("        current: file://CUR\n", "")).replace("REF", "/r.parquet")
    checked, sink = check_text(tmp_path, text)
    assert checked is not None
    found = only(sink, "MLC341")
    assert "no current data" in found.message
    drift_line = text.splitlines().index("      drift:") + 1
    assert (found.span.line, found.span.column) == (drift_line + 1, 9)


def test_ks_on_a_string_feature_is_refused_where_it_is_named(tmp_path: Path) -> None:
    from tests.helpers import check_text, only

    text = BASE.replace(
        "      - {name: basket_avg_30d, dtype: float64}",
        "      - {name: basket_avg_30d, dtype: float64}\n      - {name: tier, dtype: string}",
    )
    text = edit(
        text,
        (
            "features: [customer_stats:order_count_30d]",
            "features: [customer_stats]\n    monitoring:\n      drift:\n"
            "        features: [customer_stats:basket_avg_30d, customer_stats:tier]\n"
            "        metric: ks\n        threshold: 0.1\n"
            "        reference: s3://b/r/\n        current: s3://b/c/",
        ),
    )
    checked, sink = check_text(tmp_path, text)
    assert checked is None
    found = only(sink, "MLC342")
    assert "'customer_stats:tier' is string" in found.message
    assert (
        found.span.line
        == text.splitlines().index(
            "        features: [customer_stats:basket_avg_30d, customer_stats:tier]"
        )
        + 1
    )


def test_the_documented_drift_image_runs_mlopsc_drift_as_a_non_root_user() -> None:
    """docker/drift.Dockerfile (no Docker engine here: its instructions are parsed)."""
    from compiler import __version__
    from tests.conftest import ROOT

    text = (ROOT / "docker" / "drift.Dockerfile").read_text()
    lines = " ".join(
        line.strip().removesuffix("\\") for line in text.splitlines() if not line.startswith("#")
    ).split()
    instructions = [
        w for w in lines if w.isupper() and w in {"FROM", "ARG", "RUN", "USER", "ENTRYPOINT"}
    ]
    assert instructions == ["FROM", "ARG", "RUN", "USER", "ENTRYPOINT"]
    assert f"MLOPSC_VERSION={__version__}" in lines
    assert '"mlopsc[drift]==${MLOPSC_VERSION}"' in lines
    user = lines[lines.index("USER") + 1]
    assert user.isdigit() and int(user) > 0
    assert text.split("ENTRYPOINT")[1].strip() == '["mlopsc", "drift"]'
    docs = (ROOT / "docs" / "monitoring.md").read_text()
    block = docs.split("```dockerfile\n", 1)[1].split("```", 1)[0]
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    assert block == body
