"""Go text/template escaping for the fields Prometheus and Alertmanager expand as templates.

Prometheus expands alert labels and annotations, and Alertmanager most notifier fields
(Slack channel, title and text, e-mail recipients, PagerDuty description and details), with
Go's text/template at alert time. Spec text put there unescaped would run: a description
holding `{{ with query "..." }}` queries Prometheus whenever the alert fires. Every `{` of spec
text therefore becomes the action `{{"{"}}`, which prints one literal brace; no `{{` can then
start in spec text, nor be formed with a brace next to it. mlopsc's own templating (written
in the targets, never from the spec) stays live.
"""

from __future__ import annotations

LEFT_BRACE = '{{"{"}}'


def literal(text: str) -> str:
    """Spec text as a Go template that prints exactly `text`."""
    return text.replace("{", LEFT_BRACE)
