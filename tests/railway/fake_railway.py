"""A fake Railway GraphQL API on 127.0.0.1, executed by graphql-core against the schema itself.

Every request is parsed and validated against the schema (Railway's full one from ``../shared`` when present,
else the project's subset), so an operation Railway would reject fails here too. State and resolvers live in
``fake_railway_state`` / ``fake_railway_mutations`` (deployments in ``fake_deployments``). The HTTP layer here
adds what sits in front of the API:
- the two token kinds: account/workspace tokens as ``Authorization: Bearer``, project tokens as
  ``Project-Access-Token`` (railwayapp/cli ``src/client.rs``; docs ``integrations/api.md``); a project token
  cannot create or list projects or connect a source (jamesprnich/terraform-provider-railway auth guide),
  and any token in the wrong header is "Not Authorized";
- Cloudflare's rate limit: above ``rps_limit`` requests in a second, an HTML 429 page with "error code: 1015"
  and no JSON (terraform-provider-railway issues #43, #63, PR #55);
- scripted faults per request (``Fault``), e.g. 429 with Retry-After or transient GraphQL errors.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from graphql import GraphQLSchema, build_schema, graphql_sync, parse, validate

from infra.simulator.loopback import serve
from tests.railway.fake_railway_mutations import RailwayState
from tests.railway.fake_railway_state import Fault

__all__ = ["FULL", "SUBSET", "FakeRailway", "Fault", "RailwayState", "load_schema"]

ROOT = Path(__file__).resolve().parents[2]
SUBSET = ROOT / "infra" / "railway" / "schema.graphql"
FULL = ROOT.parent / "shared" / "railway" / "railway-cli-schema.graphql"

#: operations a project token may not run (it is scoped to one existing environment of one project)
NOT_FOR_PROJECT_TOKENS = ("projectCreate", "projects", "projectDelete", "serviceConnect", "environmentCreate")
CLOUDFLARE_1015 = (
    "<!DOCTYPE html><html><head><title>Access denied | backboard.railway.com used Cloudflare to restrict "
    "access</title></head><body><h1>Error 1015</h1><p>You are being rate limited</p>"
    "<p>error code: 1015</p></body></html>"
)


@functools.cache
def load_schema() -> GraphQLSchema:
    return build_schema((FULL if FULL.exists() else SUBSET).read_text())


class FakeRailway:
    def __init__(
        self,
        token: str = "fake-railway-token",
        *,
        project_token: str = "fake-project-token",
        build_s: float = 0.0,
        deploy_s: float = 0.0,
        not_found_window_s: float = 0.0,
        rps_limit: int | None = None,
    ) -> None:
        self.token = token
        self.project_token = project_token
        self.state = RailwayState(build_s=build_s, deploy_s=deploy_s, not_found_window_s=not_found_window_s)
        self.schema = load_schema()
        self.rejected: list[str] = []
        self.rps_limit = rps_limit
        self.rate_limited = 0
        #: what identified each request: (URL ``source``, ``x-source`` header)
        self.sources: list[tuple[str | None, str | None]] = []
        self.connections: set[tuple[str, int]] = set()
        self._recent: deque[float] = deque()
        self._rate_lock = threading.Lock()
        self._server: Any = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/graphql/v2"

    def _over_limit(self) -> bool:
        if self.rps_limit is None:
            return False
        with self._rate_lock:
            now = time.monotonic()
            while self._recent and now - self._recent[0] > 1.0:
                self._recent.popleft()
            self._recent.append(now)
            return len(self._recent) > self.rps_limit

    def _refused(self, headers: Any, operation_fields: list[str]) -> str | None:
        bearer = headers.get("authorization")
        project = headers.get("project-access-token")
        if bearer == f"Bearer {self.token}":
            return None
        if project == self.project_token and bearer is None:
            if any(f in NOT_FOR_PROJECT_TOKENS for f in operation_fields):
                return "Not Authorized"
            return None
        return "Not Authorized"

    def handle(self, path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        name = request.get("operationName")
        self.sources.append(
            ((parse_qs(urlsplit(path).query).get("source") or [None])[0], headers.get("x-source"))
        )
        if self._over_limit():
            self.rate_limited += 1
            return 429, {"content-type": "text/html"}, CLOUDFLARE_1015.encode()
        fault = self.state.take_fault(name)
        if fault is not None and not fault.after_execution:
            return self._fault_response(fault)
        document = parse(request["query"])
        errors = validate(self.schema, document)
        if errors:
            self.rejected.append(name)
            return 400, {}, json.dumps({"errors": [{"message": e.message} for e in errors]}).encode()
        fields = [
            sel.name.value
            for op in document.definitions
            for sel in getattr(op, "selection_set").selections  # noqa: B009
        ]
        refusal = self._refused(headers, fields)
        if refusal:
            return 200, {}, json.dumps({"data": None, "errors": [{"message": refusal}]}).encode()
        with self.state.lock:
            self.state.calls.append((name, request.get("variables") or {}))
            self.state.call_times.append(time.monotonic())
            result = graphql_sync(
                self.schema,
                request["query"],
                root_value=self.state,
                variable_values=request.get("variables"),
                operation_name=name,
            )
        if fault is not None:
            return self._fault_response(fault)  # done, but the answer is lost
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        return 200, {}, json.dumps(payload).encode()

    @staticmethod
    def _fault_response(fault: Fault) -> tuple[int, dict[str, str], bytes]:
        payload = fault.body if fault.body is not None else json.dumps({"errors": [{"message": "injected"}]})
        return fault.status, fault.headers, payload.encode()

    def peak_per_second(self) -> int:
        """The most calls the API answered in any one-second window."""
        times = self.state.call_times
        best, start = 0, 0
        for end in range(len(times)):
            while times[end] - times[start] > 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    @contextmanager
    def running(self) -> Iterator[FakeRailway]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"  # keep-alive, as Railway's edge does

            def do_POST(self) -> None:
                fake.connections.add(self.client_address[:2])
                length = int(self.headers.get("content-length", "0"))
                status, headers, payload = fake.handle(self.path, self.rfile.read(length), self.headers)
                self.send_response(status)
                for key, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        with serve(Handler) as server:
            self._server = server
            yield self
