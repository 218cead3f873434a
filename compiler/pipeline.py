"""The front half of the compiler: load → model → meaning → governance, stopping on errors."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from compiler.diagnostics import Sink
from compiler.governance import Governance, check_waiver_names, evaluate_governance
from compiler.load import Document, load_spec
from compiler.meaning import Index, check_meaning
from compiler.spec.models import Project
from compiler.spec.validate import validate_project


@dataclass
class Checked:
    """A spec that went through every front-end stage."""

    document: Document
    project: Project
    index: Index
    governance: Governance


def today() -> dt.date:
    """Today, or the date of SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).date()
    return dt.date.today()


def check_spec(path: str, sink: Sink, *, on: dt.date | None = None) -> Checked | None:
    """Run every front-end stage; None when a stage reported errors."""
    document = load_spec(path, sink)
    if document is None or sink.has_errors:
        return None
    return check_document(document, sink, on=on)


def check_document(
    document: Document, sink: Sink, *, on: dt.date | None = None, keep_going: bool = False
) -> Checked | None:
    """The stages after loading; None when one reported errors. With keep_going, failing
    governance rules do not stop it (`diff`: a rule that fails is part of what a change does)."""
    project = validate_project(document, sink)
    if project is None:
        return None
    index = check_meaning(project, document.source_map, sink)
    check_waiver_names(index, document.source_map, sink)
    if sink.has_errors:
        return None
    governance = evaluate_governance(index, document.source_map, sink, today=on or today())
    if sink.has_errors and not keep_going:
        return None
    return Checked(document, project, index, governance)
