"""Deployment settings that refer to the catalog: the bot's default route must be one the gateway serves."""

from __future__ import annotations

import difflib

from infra.catalog import PROJECT, Finding, Location, Severity
from infra.checks.context import CheckContext


def check_bot_route(ctx: CheckContext) -> list[Finding]:
    spec = ctx.spec
    route = spec.deploy.telegram.default_route
    routes = list(spec.catalog.routes)
    if route in routes:
        return []
    match = difflib.get_close_matches(route, routes, n=1)
    stack = spec.sources.stack
    path = ("config", f"{PROJECT}:telegram", "default_route")
    location = (
        spec.sources.locate_stack_key("telegram", "default_route")
        if stack is not None
        else Location(spec.sources.stack_file, ".".join(path))
    )
    return [
        Finding(
            Severity.ERROR,
            "unknown-route",
            location,
            f"the bot's default route '{route}' is not a route of this stack"
            + (f" (did you mean '{match[0]}'?)" if match else ""),
            f"set {PROJECT}:telegram.default_route to one of: {', '.join(routes) or '(declare routes first)'}",
        )
    ]
