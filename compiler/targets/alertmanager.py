"""Alertmanager routing of SLO alerts: one route per owner team, matched on the `project` and
`owner` labels.

Pages from environments that page (`environments[].pages`, by default those that require
approval) go to the team's PagerDuty service when it has one; everything else (tickets, pages
from other environments, pages of teams without a pager) goes to the team's e-mail and Slack
channel. Alerts are grouped per alert name (one per SLO and severity), project, environment
and namespace, so one incident is one notification per severity. Spec text in notifier
fields is escaped for Go templates; only mlopsc's own templates stay live. No secret is written:
the PagerDuty routing key, Slack webhook URL and SMTP password are read from files under
SECRETS, which the deployment mounts (e.g. from a Kubernetes Secret).
"""

from __future__ import annotations

from typing import Any

from compiler import conventions_metrics as m
from compiler.plan import Plan, Team
from compiler.render.gotemplate import literal

SECRETS = "/etc/alertmanager/secrets"
DEFAULT_RECEIVER = "mlopsc-unrouted"
GROUP_BY = ("alertname", m.PROJECT, m.ENVIRONMENT, m.NAMESPACE, m.SLO)


def pager_receiver(team: Team) -> str:
    return f"{team.name}-pager"


def owner_teams(plan: Plan) -> list[Team]:
    """Teams that own at least one SLO, sorted by name."""
    names = sorted({sp.owner.name for sp in plan.slos})
    return [plan.teams[name] for name in names]


def _team_receiver(team: Team) -> dict[str, Any]:
    receiver: dict[str, Any] = {
        "name": team.name,
        "email_configs": [{"to": literal(team.email), "send_resolved": True}],
    }
    if team.slack:
        receiver["slack_configs"] = [
            {
                "api_url_file": f"{SECRETS}/slack-webhook-{team.name}",
                "channel": literal(team.slack),
                "send_resolved": True,
                "title": (
                    "{{ .CommonLabels.alertname }} ({{ with .CommonLabels.environment }}"
                    "{{ . }}, {{ end }}{{ .CommonLabels.namespace }})"
                ),
                "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
            }
        ]
    return receiver


def _pager(team: Team) -> dict[str, Any]:
    assert team.pagerduty_service is not None
    return {
        "name": pager_receiver(team),
        "pagerduty_configs": [
            {
                "routing_key_file": f"{SECRETS}/pagerduty-{team.pagerduty_service}",
                "send_resolved": True,
                "description": "{{ .CommonAnnotations.summary }}",
                "details": {
                    "pagerduty_service": literal(team.pagerduty_service),
                    "slo": "{{ .CommonLabels.slo }}",
                },
            }
        ],
    }


def paging_matchers(plan: Plan) -> list[list[str]]:
    """Matcher sets that make a page a page: alerts from an environment's PrometheusRule say
    their `environment`; alerts of the plain rule files only their `namespace` (a namespace
    that a paging and a quiet environment share on different clusters does not page)."""
    paging = [ep for ep in plan.environments if ep.pages]
    if not paging:
        return []
    quiet = {ep.namespace for ep in plan.environments if not ep.pages}
    page = f'{m.SEVERITY}="page"'
    sets = [[page, f'{m.ENVIRONMENT}=~"{"|".join(ep.name for ep in paging)}"']]
    namespaces = sorted({ep.namespace for ep in paging} - quiet)
    if namespaces:
        sets.append([page, f'{m.ENVIRONMENT}=""', f'{m.NAMESPACE}=~"{"|".join(namespaces)}"'])
    return sets


def config(plan: Plan) -> dict[str, Any]:
    """A complete Alertmanager configuration (amtool check-config accepts it as is)."""
    routes: list[dict[str, Any]] = []
    receivers: list[dict[str, Any]] = [{"name": DEFAULT_RECEIVER}]
    paging = paging_matchers(plan)
    for team in owner_teams(plan):
        children: list[dict[str, Any]] = []
        if team.pagerduty_service and paging:
            children = [
                {
                    "receiver": pager_receiver(team),
                    "matchers": matchers,
                    "group_wait": "30s",
                    "repeat_interval": "1h",
                }
                for matchers in paging
            ]
            receivers.append(_pager(team))
        route: dict[str, Any] = {
            "receiver": team.name,
            "matchers": [f'{m.PROJECT}="{plan.name}"', f'{m.OWNER}="{team.name}"'],
        }
        if children:
            route["routes"] = children
        routes.append(route)
        receivers.append(_team_receiver(team))
    receivers.sort(key=lambda r: str(r["name"]))
    domain = plan.name
    return {
        "global": {
            # Placeholders: point them at your mail relay; the password is read from a file.
            "smtp_smarthost": "localhost:25",
            "smtp_from": f"alertmanager@{domain}.invalid",
            "smtp_auth_password_file": f"{SECRETS}/smtp-password",
            "smtp_require_tls": True,
            "resolve_timeout": "5m",
        },
        "route": {
            "receiver": DEFAULT_RECEIVER,
            # The alert name is one per SLO and severity: both window pairs of a burn are
            # one group, so one incident is one notification per severity.
            "group_by": list(GROUP_BY),
            "group_wait": "1m",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                # A page already tells the team; the ticket of the same SLO would be noise.
                "source_matchers": [f'{m.SEVERITY}="page"'],
                "target_matchers": [f'{m.SEVERITY}="ticket"'],
                "equal": list(GROUP_BY[1:]),
            }
        ],
        "receivers": receivers,
    }
