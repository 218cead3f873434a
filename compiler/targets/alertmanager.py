"""Alertmanager routing of SLO alerts: one route per owner team, matched on the `owner` label.

Pages go to the team's PagerDuty service when it has one; everything else (tickets, and pages
of teams without a pager) goes to the team's e-mail and Slack channel. No secret is written:
the PagerDuty routing key, Slack webhook URL and SMTP password are read from files under
SECRETS, which the deployment mounts (e.g. from a Kubernetes Secret).
"""

from __future__ import annotations

from typing import Any

from compiler.plan import Plan
from compiler.spec.models import Team

SECRETS = "/etc/alertmanager/secrets"
DEFAULT_RECEIVER = "mlopsc-unrouted"


def pager_receiver(team: Team) -> str:
    return f"{team.name}-pager"


def owner_teams(plan: Plan) -> list[Team]:
    """Teams that own at least one SLO, sorted by name."""
    names = sorted({sp.owner.name for sp in plan.slos})
    return [plan.teams[name] for name in names]


def _team_receiver(team: Team) -> dict[str, Any]:
    receiver: dict[str, Any] = {
        "name": team.name,
        "email_configs": [{"to": team.email, "send_resolved": True}],
    }
    if team.slack:
        receiver["slack_configs"] = [
            {
                "api_url_file": f"{SECRETS}/slack-webhook-{team.name}",
                "channel": team.slack,
                "send_resolved": True,
                "title": "{{ .CommonLabels.alertname }} ({{ .CommonLabels.slo }})",
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
                    "pagerduty_service": team.pagerduty_service,
                    "slo": "{{ .CommonLabels.slo }}",
                },
            }
        ],
    }


def config(plan: Plan) -> dict[str, Any]:
    """A complete Alertmanager configuration (amtool check-config accepts it as is)."""
    routes: list[dict[str, Any]] = []
    receivers: list[dict[str, Any]] = [{"name": DEFAULT_RECEIVER}]
    for team in owner_teams(plan):
        children: list[dict[str, Any]] = []
        if team.pagerduty_service:
            children.append(
                {
                    "receiver": pager_receiver(team),
                    "matchers": ['severity="page"'],
                    "group_wait": "30s",
                    "repeat_interval": "1h",
                }
            )
            receivers.append(_pager(team))
        route: dict[str, Any] = {"receiver": team.name, "matchers": [f'owner="{team.name}"']}
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
            "group_by": ["alertname", "slo", "namespace"],
            "group_wait": "1m",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                # A page already tells the team; the ticket of the same SLO would be noise.
                "source_matchers": ['severity="page"'],
                "target_matchers": ['severity="ticket"'],
                "equal": ["slo", "namespace"],
            }
        ],
        "receivers": receivers,
    }
