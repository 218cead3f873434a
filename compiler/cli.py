"""The mlopsc command: wiring and printing only."""

from __future__ import annotations

import dataclasses
import gc
import io
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click

from compiler import __version__, errors
from compiler import diagnostics as dx
from compiler.diagnostics import Diagnostic, Sink
from compiler.files import check_input
from compiler.outputs import Outputs
from compiler.rulekinds import Pack

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("text", "json", "github", "sarif")
TARGET_NAMES = ("kubernetes", "argocd", "github", "gitlab", "monitoring", "feast", "docs")


def format_option(text: str) -> Callable[[F], F]:
    """The --format option of the commands that print diagnostics."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="text",
        show_default=True,
        help=text,
    )


class _Cli(click.Group):
    """The mlopsc group: every command runs inside the one error handler."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        code = _handled(lambda: super(_Cli, self).invoke(ctx), debug=debug)
        ctx.exit(code)


def _handled(run: Callable[[], Any], *, debug: bool) -> int:
    """Run a command; map what it raises to an exit code (compiler.errors), saying why once."""
    try:
        code = run()
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return int(code or 0)
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # click's own: usage errors (exit 2) and --help/--version
    except (Exception, KeyboardInterrupt) as exc:
        code = errors.exit_code(exc)
        if isinstance(exc, BrokenPipeError):
            _silence()  # quietly, as other command-line tools end
        elif isinstance(exc, KeyboardInterrupt):
            click.echo("mlopsc: interrupted", err=True)
        elif code == errors.BUG:
            if debug:
                raise
            click.echo(
                f"mlopsc: internal error ({type(exc).__name__}: {dx.printable(str(exc))}); "
                "this is a bug in mlopsc, rerun with --debug for the traceback and report it",
                err=True,
            )
        elif code == errors.USAGE:
            click.echo(f"mlopsc: error: {dx.printable(_os_message(exc))}", err=True)
        elif str(exc):
            click.echo(f"mlopsc: {dx.printable(str(exc))}", err=True)
        return code


def _os_message(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror.lower()}"
    return str(exc)


def _silence(stream: Any = None) -> None:
    """Point stdout (or `stream`) at /dev/null, so that the interpreter's last flush does not
    fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (stream or sys.stdout).fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file descriptor (a test runner's buffer)


def _render(diagnostics: Sequence[Diagnostic], fmt: str) -> str:
    if fmt == "json":
        return dx.render_json(diagnostics)
    if fmt == "github":
        return dx.render_github(diagnostics)
    if fmt == "sarif":
        from compiler.governance.rules import RULES

        rules = {code: c.summary for code, c in dx.codes().items()}
        rules.update({rid: r.title for rid, r in RULES.items()})
        return dx.render_sarif(diagnostics, version=__version__, rules=rules)
    return dx.render_text(diagnostics)


def _check_file(path: str) -> None:
    """UsageProblem (exit 2) unless SPEC is a regular file; a folder gets a hint."""
    if os.path.isdir(path):
        raise errors.UsageProblem(
            f"{path} is a folder; name the spec file (e.g. {os.path.join(path, 'mlops.yaml')})"
        )
    check_input(path)


def front(spec: str, sink: Sink) -> Any:
    """Run the front-end stages on one spec (see compiler.pipeline)."""
    from compiler.pipeline import check_spec

    _check_file(spec)
    return check_spec(spec, sink)


def checked_or_invalid(spec: str) -> Any:
    """The checked spec, or Invalid (exit 1) after printing why it is not valid (the commands
    that need a valid spec but print no diagnostics of their own: gate, drift, canary-check)."""
    sink = Sink()
    checked = front(spec, sink)
    if checked is None:
        emit_diagnostics(sink, "text", notes=False)
        raise errors.Invalid(f"{spec}: invalid ({summary(sink)})")
    return checked


def emit_diagnostics(sink: Sink, fmt: str, *, notes: bool = True) -> None:
    """Print the diagnostics (json, sarif and github on stdout, text on stderr). A reader that
    closed the pipe early does not decide the exit code: the command's verdict still does
    (`mlopsc validate --format json bad.yaml | head -c1` exits 1 under pipefail)."""
    items = [d for d in sink.sorted() if notes or d.severity is not dx.Severity.NOTE]
    text = _render(items, fmt)
    if text:
        stream = sys.stdout if fmt in ("json", "sarif", "github") else sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except BrokenPipeError:
            _silence(stream)  # later writes and the interpreter's last flush must not fail


def summary(sink: Sink) -> str:
    items = sink.sorted()
    errors = sum(d.severity is dx.Severity.ERROR for d in items)
    warnings = sum(d.severity is dx.Severity.WARNING for d in items)
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


@click.group(
    cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="mlopsc")
@click.option("--debug", is_flag=True, help="Show Python tracebacks of internal errors.")
def cli(debug: bool) -> None:
    """mlopsc compiles one mlops.yaml into CI workflows, Kubernetes manifests, monitoring,
    a Feast repository and audit documents, and checks that they stay in sync.

    Exit codes: 0 ok, 1 the spec has errors (or outputs are stale), 2 usage or I/O problem,
    3 a bug in mlopsc.
    """


@cli.command()
@click.argument("specs", nargs=-1, metavar="[SPEC]...")
@format_option("Diagnostics format: text, json, github (workflow commands) or sarif (2.1.0).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
def validate(specs: tuple[str, ...], fmt: str, strict: bool) -> int:
    """Parse, schema-check, resolve references and apply governance rules to SPEC
    (default ./mlops.yaml). Prints every problem found, not just the first."""
    sink = Sink()
    for spec in specs or ("mlops.yaml",):
        # Each spec is checked in full on its own: one spec's errors must not stop the next
        # one after loading (the stages stop on any error in the sink they are given).
        own = Sink()
        front(spec, own)
        sink.items.extend(own.items)
    emit_diagnostics(sink, fmt)
    failed = sink.has_errors or (
        strict and any(d.severity is dx.Severity.WARNING for d in sink.items)
    )
    if fmt == "text":
        status = "invalid" if failed else "valid"
        click.echo(
            f"mlopsc: {', '.join(specs or ('mlops.yaml',))}: {status} ({summary(sink)})", err=True
        )
    return errors.INVALID if failed else errors.OK


@cli.command()
def schema() -> int:
    """Print the JSON Schema of the spec (the same bytes as schemas/mlops-v1.schema.json)."""
    from compiler.spec.schema import schema_text

    sys.stdout.write(schema_text())
    return errors.OK


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Project name (default: the folder's name, cleaned).")
@click.option("--force", is_flag=True, help="Overwrite an existing mlops.yaml.")
def init(directory: str, name: str | None, force: bool) -> int:
    """Write a starter mlops.yaml into DIRECTORY that validates as it is."""
    from compiler.starter import starter_spec

    target = os.path.join(directory, "mlops.yaml")
    if os.path.lexists(target):
        if not force:
            raise errors.UsageProblem(f"{target} exists; use --force to overwrite it")
        if os.path.islink(target) or not os.path.isfile(target):
            # --force replaces a spec file, never writes through a link or into a FIFO
            raise errors.UsageProblem(f"{target} is not a regular file; remove it first")
    os.makedirs(directory, exist_ok=True)
    text = starter_spec(name or os.path.basename(os.path.abspath(directory)))
    temporary = f"{target}.{os.getpid()}.tmp"
    try:
        with open(temporary, "x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, target)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
    click.echo(f"mlopsc: wrote {target}; next: mlopsc validate {target}", err=True)
    return errors.OK


@cli.command()
@click.option(
    "--pack",
    type=click.Choice([p.value for p in Pack]),
    default=None,
    help="Only the rules of one pack.",
)
def rules(pack: str | None) -> int:
    """List the built-in governance rules (id, pack, severity, title, source)."""
    from compiler.governance.rules import RULES

    for rule in sorted(RULES.values(), key=lambda r: r.id):
        if pack and rule.pack != pack:
            continue
        click.echo(f"{rule.id:<9} {rule.pack:<10} {rule.severity:<8} {rule.title}  [{rule.source}]")
    return errors.OK


@cli.command()
@click.argument("code")
def explain(code: str) -> int:
    """Explain a diagnostic code (MLC…) or a governance rule id (BASE-…, EUAI-…, GDPR-…)."""
    from compiler.governance.rules import RULES

    wanted = code.strip().upper()
    registry = dx.codes()
    if wanted in registry:
        entry = registry[wanted]
        click.echo(f"{entry.code}: {entry.summary}")
        if entry.explanation:
            click.echo(f"\n{entry.explanation}")
        return errors.OK
    if wanted in RULES:
        rule = RULES[wanted]
        click.echo(f"{rule.id}: {rule.title}")
        click.echo(f"pack: {rule.pack}; severity: {rule.severity}; source: {rule.source}")
        click.echo(f"\n{rule.rationale}")
        click.echo(
            f"\nWaive it for one subject with governance.waivers: {{rule: {rule.id}, target: NAME, ...}}"
        )
        return errors.OK
    hint = dx.suggest(wanted, [*registry, *RULES])
    raise errors.Invalid(f"unknown code '{code}'" + (f"; {hint}" if hint else ""))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the mlopsc command."""
    # A command lives for seconds and builds few reference cycles: reference counting frees
    # its garbage, and the cycle collector's passes over the spec's and the plan's millions of
    # objects (a tenth of a large build's time, freeing nothing) are not worth it.
    gc.disable()
    cli.main(args=list(argv) if argv is not None else None, prog_name="mlopsc")


def _compile(
    spec: str,
    out: str,
    only: str | None,
    fmt: str,
    *,
    renderer: Callable[[Any, list[str]], list[Any]] | None = None,
    remembered: bool = False,
    echo: bool = True,
    checked: Any = None,
    front_items: tuple[Any, ...] = (),
    store: bool = True,
) -> Outputs:
    """Front end, plan and targets (compiler/outputs.py); Invalid (exit 1) after printing the
    diagnostics of an invalid spec. `remembered`: a full build's hashes recorded on this
    machine for the same inputs stand in for rendering (artifacts None). `checked`: the front
    end's result of an earlier call on the same spec in this process (not run again) and
    `front_items` what it said. `store`: remember a full render now (build remembers it after
    writing, with the files' statuses).

    Text and github diagnostics (warnings) are printed here; json and sarif are one document,
    which the caller prints once, at the end. `renderer` (plan, target names) -> artifacts
    replaces the targets' own rendering (`report` adds the git history to the documents)."""
    from compiler import outputs as o
    from compiler.targets import REGISTRY

    selected: list[str] | None = None
    if only:
        selected = sorted({t.strip() for t in only.split(",") if t.strip()})
        unknown = [t for t in selected if t not in REGISTRY]
        if unknown:
            known = ", ".join(REGISTRY)
            raise errors.UsageProblem(
                f"unknown target {', '.join(unknown)} for --only (known: {known})"
            )
    sink = Sink(list(front_items))
    if checked is None:
        checked = front(spec, sink)
    if checked is None:
        emit_diagnostics(sink, fmt, notes=False)
        raise errors.Invalid(f"{spec}: invalid ({summary(sink)}); nothing written")
    before = len(sink.items)
    result = o.compile_or_remember(
        spec, checked, sink, selected, remembered=remembered, store=store, renderer=renderer
    )
    if result is None:
        # text and github print only what this stage added; json and sarif print everything
        shown = sink if fmt in ("json", "sarif") else Sink(sink.items[before:])
        emit_diagnostics(shown, fmt, notes=False)
        raise errors.Invalid(f"{spec}: cannot build ({summary(sink)}); nothing written")
    if echo and fmt in ("text", "github"):  # warnings now; json and sarif: one document at the end
        emit_diagnostics(Sink(sink.items[before:]), fmt, notes=False)
    return result


_OUT_HELP = "Output folder (the generated tree; see README for its layout)."


def _nonempty_out(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An empty OUT (`-o "$UNSET"`) would mean the current folder: refuse it."""
    if not value.strip():
        raise click.BadParameter("the output folder must not be empty")
    return value


out_option = click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    callback=_nonempty_out,
    help=_OUT_HELP,
)


def _emit_failed(out: str, exc: Any) -> NoReturn:
    """Raise what an EmitError means: a path mlopsc may not take is Invalid (1), an I/O
    problem UsageProblem (2); each problem is said first with its path."""
    for problem in exc.problems:
        click.echo(
            f"{os.path.join(out, problem.path)}: error[{problem.code}]: "
            f"{dx.printable(problem.message)}",
            err=True,
        )
    if exc.io:
        raise errors.UsageProblem(f"nothing changed in {out}")
    raise errors.Invalid(f"nothing changed in {out}")


def write_or_raise(
    out: str,
    artifacts: list[Any],
    info: Any,
    only: set[str] | None,
    *,
    force: bool = False,
    shared: frozenset[str] = frozenset(),
    memo: Any = None,
) -> tuple[int, list[str]]:
    """Write the outputs, or leave OUT as it was and raise (see _emit_failed). Paths taken
    over with --force and files mlopsc did not write in its folders are said. `memo`
    (emit.StatusMemo) collects the status of every file as written."""
    from compiler.emit import EmitError, write_outputs

    try:
        written = write_outputs(
            out, artifacts, info, only=only, force=force, shared=shared, memo=memo
        )
    except EmitError as exc:
        _emit_failed(out, exc)
    if written.recovered:
        click.echo(f"mlopsc: cleaned up after an interrupted build in {out}", err=True)
    for rel in written.edited:
        click.echo(
            f"{os.path.join(out, rel)}: warning[{dx.EDITED}]: taken over with --force "
            "(hand edits or a file mlopsc did not write replaced)",
            err=True,
        )
    for rel in written.unknown:
        click.echo(
            f"{os.path.join(out, rel)}: warning[{dx.EXTRA}]: not written by mlopsc, in a folder "
            "it generates (it would be deployed with it); move it elsewhere",
            err=True,
        )
    return written.changed, written.removed


@cli.command()
@click.argument("spec", default="mlops.yaml", required=False)
@out_option
@click.option(
    "--only",
    default=None,
    metavar="TARGET,...",
    help="Build only these targets: kubernetes, argocd, github, gitlab, azure, cloudbuild, aws, "
    "jenkins, monitoring, feast, docs (a CI system even when outputs.ci does not list it).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Take over paths build would otherwise refuse: overwrite or remove generated files "
    "edited by hand, replace files mlopsc did not write, links, special files and empty "
    "folders where it writes a file (never a folder with contents, never through a link).",
)
@format_option("Format of diagnostics.")
def build(spec: str, out: str, only: str | None, force: bool, fmt: str) -> int:
    """Validate SPEC, then write every output under OUT, all or nothing. An invalid spec
    leaves OUT untouched. Only files whose bytes are what mlopsc wrote (per
    mlopsc.lock.json) are overwritten or removed; anything else in the way (a hand edit, a
    file mlopsc did not write, a folder, a symbolic link) is kept and named, exit 1, unless
    --force. Nothing outside OUT is changed; links below OUT are never followed. An I/O error
    exits 2 with OUT as it was; a killed build is finished by the next one."""

    from compiler import buildcache
    from compiler.emit import EmitError, StatusMemo

    outputs = _compile(spec, out, only, fmt, remembered=not force, store=False)
    if outputs.artifacts is None:  # the same inputs as a build this machine remembers
        try:
            in_sync = not outputs.compare(out)
        except EmitError:
            in_sync = False  # the full build below says what is wrong
        if in_sync:
            if fmt in ("json", "sarif"):
                emit_diagnostics(outputs.sink, fmt, notes=False)
            click.echo(
                f"mlopsc: {out} is up to date ({len(outputs.expected)} files, nothing written)",
                err=True,
            )
            return errors.OK
        # the spec was checked above; warnings were said there
        outputs = _compile(
            spec,
            out,
            only,
            fmt,
            echo=False,
            checked=outputs.checked,
            front_items=outputs.front_items,
            store=False,
        )
    artifacts, info = outputs.artifacts, outputs.info
    assert artifacts is not None
    selected, sink = outputs.selected, outputs.sink
    memo = StatusMemo()
    changed, removed = write_or_raise(
        out,
        artifacts,
        info,
        set(selected) if selected else None,
        force=force,
        shared=outputs.shared,
        memo=memo,
    )
    if outputs.record is not None:  # a full build: remembered with its files' statuses
        record = dataclasses.replace(outputs.record, statuses=memo.seen, root=memo.root)
        buildcache.store(outputs.key, record)
    if fmt in ("json", "sarif"):
        emit_diagnostics(sink, fmt, notes=False)
    click.echo(
        f"mlopsc: built {len(artifacts)} files into {out} "
        f"({changed} written, {len(artifacts) - changed} unchanged, {len(removed)} removed)",
        err=True,
    )
    return errors.OK


@cli.command()
@click.argument("spec", default="mlops.yaml", required=False)
@out_option
@format_option("Format of diagnostics.")
def check(spec: str, out: str, fmt: str) -> int:
    """Exit 0 when OUT holds exactly what `build` would write now; else list each stale,
    missing, hand-edited or extra generated file, any file mlopsc did not write in a folder it
    generates, and what an interrupted build left, and exit 1. Reads only."""
    from compiler.emit import EmitError

    outputs = _compile(spec, out, None, fmt, remembered=True)
    try:
        findings = outputs.compare(out)
    except EmitError as exc:
        _emit_failed(out, exc)
    sink = Sink()  # json and sarif: the findings are the document
    rebuild = "run `mlopsc build` to bring it in sync"
    said = {  # kind: (code, words, hint)
        "stale": (dx.STALE, "is stale: the spec changed since it was built", rebuild),
        "missing": (dx.MISSING_OUT, "is missing", rebuild),
        "edited": (dx.EDITED, "was edited by hand", "put the change into the spec"),
        "extra": (dx.EXTRA, "is no longer generated by the spec", rebuild),
        "unknown": (
            dx.EXTRA,
            "was not written by mlopsc, in a folder it generates (it would be deployed with it)",
            "move it out of the generated folder",
        ),
        "blocked": (
            dx.FOREIGN_FILE,
            "is not a regular file (a folder, symbolic link or special file) where mlopsc "
            "writes or reads one",
            "remove it, then run `mlopsc build`",
        ),
        "leftover": (dx.EXTRA, "is left over from an interrupted build", rebuild),
    }
    for f in findings:
        code, words, hint = said[f.kind]
        sink.error(code, f"{f.path} {words}", dx.Span(os.path.join(out, f.path)), hint=hint)
    emit_diagnostics(sink, fmt)
    if findings:
        raise errors.Invalid(
            f"{out} is out of date ({len(findings)} files); run: mlopsc build {spec} -o {out}"
        )
    click.echo(f"mlopsc: {out} is up to date ({len(outputs.expected)} files)", err=True)
    return errors.OK


@cli.command()
@click.argument("spec", default="mlops.yaml", required=False)
@click.option(
    "--base",
    "base",
    required=True,
    metavar="GIT_REF",
    help="The git ref to compare with (a branch, tag or commit).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "markdown", "json")),
    default="text",
    show_default=True,
    help="text, markdown (a PR comment) or json.",
)
def diff(spec: str, base: str, fmt: str) -> int:
    """What the change from the spec at GIT_REF to the working tree's SPEC means: objects
    added, removed and changed (old → new), rules newly failing or passing, waivers, approvals
    needed and the generated files that change. Exit 0 whenever both sides could be read."""
    from compiler.diff import render_json, render_markdown, render_text, semantic_diff
    from compiler.gitspec import GitProblem
    from compiler.pipeline import today

    _check_file(spec)
    try:
        report = semantic_diff(spec, base, today=today())
    except GitProblem as exc:
        raise errors.UsageProblem(str(exc)) from None
    renderers = {"text": render_text, "markdown": render_markdown, "json": render_json}
    sys.stdout.write(renderers[fmt](report))
    return errors.OK


@cli.command("canary-check")
@click.argument("spec", default="mlops.yaml", required=False)
@click.option("--environment", "environment", required=True, help="The environment to judge.")
@click.option(
    "--model", "models", multiple=True, help="Only this model (repeatable; default: all)."
)
@click.option(
    "--prometheus",
    default=None,
    metavar="URL",
    help="Prometheus to query (default: the environment's prometheus_url).",
)
def canary_check(
    spec: str, environment: str, models: tuple[str, ...], prometheus: str | None
) -> int:
    """Judge the KServe canaries of an environment by their models' availability and latency
    SLIs, in its Prometheus (the queries Argo Rollouts runs for runtime deployment). Exit 1
    when a check fails or is inconclusive (no traffic), 2 when Prometheus cannot be asked."""
    from compiler.canary_check import PrometheusProblem, judged_here, run
    from compiler.plan import build_plan

    checked = checked_or_invalid(spec)
    plan = build_plan(checked)
    ep = next((e for e in plan.environments if e.name == environment), None)
    if ep is None:
        names = [e.name for e in plan.environments]
        hint = dx.suggest(environment, names)
        raise errors.UsageProblem(
            f"no environment '{environment}' in {spec}" + (f"; {hint}" if hint else "")
        )
    for name in models:
        if name not in {mp.name for mp in ep.models}:
            raise errors.UsageProblem(f"no model '{name}' in {spec}")
    address = prometheus or ep.env.prometheus_url
    wanted = [mp for mp in ep.models if (not models or mp.name in models) and judged_here(mp)]
    if not wanted:
        click.echo(f"mlopsc: no KServe canary with a candidate in '{environment}'", err=True)
        return errors.OK
    if address is None:
        raise errors.UsageProblem(
            f"environment '{environment}' has no prometheus_url: pass --prometheus URL"
        )
    try:
        results = run(plan, environment, list(models), address)
    except PrometheusProblem as exc:
        raise errors.UsageProblem(str(exc)) from None
    for r in results:
        click.echo(r.line())
    if not results:
        click.echo(
            f"mlopsc: the canaries in '{environment}' have no availability or latency SLO to "
            "judge them by",
            err=True,
        )
        return errors.OK
    bad = [r for r in results if r.verdict != "pass"]
    if bad:
        raise errors.Invalid(
            f"{environment}: {len(bad)} of {len(results)} canary checks did not pass"
        )
    click.echo(f"mlopsc: {environment}: all {len(results)} canary checks passed", err=True)
    return errors.OK


@cli.command()
@click.argument("spec", default="mlops.yaml", required=False)
@click.option("--model", "model_name", required=True, help="The model whose gates apply.")
@click.option(
    "--metrics",
    "metrics_path",
    required=True,
    metavar="FILE",
    help="The metrics JSON the evaluation step wrote.",
)
def gate(spec: str, model_name: str, metrics_path: str) -> int:
    """Check an evaluation's metrics JSON against the model's promotion gates
    (evaluation.metrics min/max and the fairness bound). Exit 1 when a gate is missed."""
    from compiler.gate import check_gates, read_metrics

    checked = checked_or_invalid(spec)
    model = checked.index.models.get(model_name)
    if model is None:
        hint = dx.suggest(model_name, checked.index.models)
        raise errors.UsageProblem(
            f"no model '{model_name}' in {spec}" + (f"; {hint}" if hint else "")
        )
    checks = check_gates(model, read_metrics(metrics_path))
    for c in checks:
        click.echo(c.line())
    missed = [c for c in checks if not c.passed]
    if not checks:
        click.echo(f"mlopsc: model '{model_name}' declares no gates", err=True)
    elif missed:
        raise errors.Invalid(f"{model_name}: {len(missed)} of {len(checks)} gates missed")
    else:
        click.echo(f"mlopsc: {model_name}: all {len(checks)} gates passed", err=True)
    return errors.OK


@cli.command()
@click.argument("spec", required=False)
@click.option("--model", "model_name", help="Model whose features are measured (with SPEC).")
@click.option("--environment", help="Environment (its namespace labels the gauge; with SPEC).")
@click.option("--namespace", help="Namespace label of the gauge (instead of --environment).")
@click.option("--feature", "features", multiple=True, help="A view:field to measure (repeat).")
@click.option("--metric", type=click.Choice(["psi", "ks", "wasserstein"]), help="Statistic.")
@click.option("--threshold", type=float, help="Drift above this is reported as drift.")
@click.option("--reference", help="Reference parquet file or folder (path or s3://, gs://…).")
@click.option("--current", help="Current-window parquet file or folder.")
@click.option("--pushgateway", help="Push the gauges to this Prometheus Pushgateway URL.")
@click.option("--textfile", type=click.Path(dir_okay=False), help="Write the gauges here (.prom).")
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when a feature drifted.")
def drift(
    spec: str | None,
    model_name: str | None,
    environment: str | None,
    namespace: str | None,
    features: tuple[str, ...],
    metric: str | None,
    threshold: float | None,
    reference: str | None,
    current: str | None,
    pushgateway: str | None,
    textfile: str | None,
    fail_on_drift: bool,
) -> int:
    """Measure feature drift of a model (reference sample vs current window) and export
    mlopsc_feature_drift_score to a Pushgateway or a textfile. Reads monitoring.drift from SPEC
    (with --model and --environment); options override it, and without SPEC they say it all
    (the generated drift CronJob runs it that way). Needs: pip install 'mlopsc[drift]'."""
    import dataclasses

    from compiler.drift import DriftJob, job_from_plan, measure, push, write_textfile

    gateway = pushgateway
    if spec is not None:
        if not model_name or not (environment or namespace):
            raise errors.UsageProblem("with SPEC, name --model and --environment")
        checked = checked_or_invalid(spec)
        from compiler.plan import build_plan

        plan = build_plan(checked)
        job = job_from_plan(plan, model_name, environment or plan.environments[0].name)
        declared = plan.models_by_name[model_name].monitoring.drift
        gateway = gateway or (declared.pushgateway if declared else None)
    else:
        job = DriftJob(model_name or "", namespace or "", (), "psi", math.inf, "", "")
    job = dataclasses.replace(
        job,
        namespace=namespace or job.namespace,
        features=tuple(sorted(features)) or job.features,
        metric=metric or job.metric,
        threshold=threshold if threshold is not None else job.threshold,
        reference=reference or job.reference,
        current=current or job.current,
    )
    missing = [
        flag
        for flag, value in (
            ("--model", job.model),
            ("--namespace", job.namespace),
            ("--feature", job.features),
            ("--threshold", math.isfinite(job.threshold)),
            ("--reference", job.reference),
            ("--current", job.current),
        )
        if not value
    ]
    if missing:
        raise errors.UsageProblem(f"drift needs {', '.join(missing)} (or SPEC declaring them)")
    scores = measure(job)
    for s in scores:
        state = "DRIFT" if s.drifted else "ok"
        click.echo(f"{job.model} {s.feature} {job.metric}={s.value:.6g} {state}")
    if gateway:
        push(job, scores, gateway)
    if textfile:
        write_textfile(job, scores, textfile)
    drifted = [s.feature for s in scores if s.drifted]
    if drifted and fail_on_drift:
        raise errors.Invalid(f"{job.model}: drift above {job.threshold:g} on {', '.join(drifted)}")
    return errors.OK


@cli.command()
@click.argument("spec", default="mlops.yaml", required=False)
@format_option("Format of diagnostics.")
def resolve(spec: str, fmt: str) -> int:
    """Ask the registries SPEC names (MLflow: MLFLOW_TRACKING_URI or artifact.tracking_uri;
    DVC; Git LFS) which version each alias or path is now, and write mlops.lock.yaml beside
    SPEC: version, storage URI, digest. Prints what moved. A registry that is down exits 2,
    a model, version, alias or file it does not know exits 1; either way the lock is left as
    it was. The other commands read the lock and never call a registry."""
    from compiler.load import load_spec
    from compiler.registry.lock import Lock, dump_lock, lock_path, read_lock, write_lock
    from compiler.registry.resolve import ResolveDown, changes, resolve_project
    from compiler.spec.validate import validate_project

    _check_file(spec)
    sink = Sink()
    document = load_spec(spec, sink)
    project = validate_project(document, sink) if document and not sink.has_errors else None
    if project is None or document is None:
        emit_diagnostics(sink, fmt, notes=False)
        raise errors.Invalid(f"{spec}: invalid ({summary(sink)}); lock unchanged")
    old = read_lock(spec, Sink())  # a broken lock is what resolve repairs
    if old is None:
        click.echo(f"mlopsc: {lock_path(spec)} is malformed; writing it anew", err=True)
        old = Lock()
    try:
        new = resolve_project(project, spec, document.source_map, sink)
    except ResolveDown as exc:
        raise errors.UsageProblem(f"{exc}; lock unchanged") from None
    if sink.has_errors:
        emit_diagnostics(sink, fmt, notes=False)
        raise errors.Invalid(f"{spec}: cannot resolve ({summary(sink)}); lock unchanged")
    target = lock_path(spec)
    written = write_lock(target, dump_lock(new, spec_name=os.path.basename(spec)))
    for line in changes(old, new):
        click.echo(line)
    state = "written" if written else "unchanged"
    click.echo(
        f"mlopsc: {target} {state} ({len(new.models)} models, {len(new.data)} sources)", err=True
    )
    return errors.OK


@cli.command()
@click.argument("spec", default="mlops.yaml", required=False)
@out_option
@click.option(
    "--history-depth",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Commits of the spec's git history to include (0: none).",
)
@format_option("Format of diagnostics.")
def report(spec: str, out: str, history_depth: int, fmt: str) -> int:
    """Write only the audit documents (model cards, compliance report in Markdown and HTML)
    under OUT, with the spec's change history from git (build leaves the history out so that
    its output depends on the spec alone)."""
    import dataclasses

    from compiler.diff.history import spec_history
    from compiler.targets.docs import render_documents

    def with_history(plan: Any, names: list[str]) -> list[Any]:
        history = spec_history(spec, includes=plan.includes, depth=history_depth)
        documents = render_documents(plan, history=history) if "docs" in names else []
        return [dataclasses.replace(a, target="docs") for a in documents]

    outputs = _compile(spec, out, "docs", fmt, renderer=with_history)
    artifacts, info, sink = outputs.artifacts, outputs.info, outputs.sink
    assert artifacts is not None
    changed, _removed = write_or_raise(out, artifacts, info, {"docs"}, shared=outputs.shared)
    if fmt in ("json", "sarif"):
        emit_diagnostics(sink, fmt, notes=False)
    click.echo(
        f"mlopsc: wrote the audit documents into {out} ({changed} of {len(artifacts)} files changed)",
        err=True,
    )
    return errors.OK
