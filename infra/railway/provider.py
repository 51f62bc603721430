"""What every Railway provider shares: the token, the client, check and diff from the field table, "already
gone" handling, and paginated listing.

Each provider keeps only plain data on ``self`` (dill pickles it into the state) and gets its client per
call; the client shares the process's connection and request pace. The token comes from
``llmstack:railway_token`` (Pulumi config, secret) or ``RAILWAY_API_TOKEN`` (``infra.railway.tokens``); it is
never an input, so it never lands in the state.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    DiffResult,
    ReadResult,
    ResourceProvider,
)

from infra.railway.client import RailwayClient, RailwayError
from infra.railway.fields import DEFAULT_API_URL, ResourceFields
from infra.railway.tokens import TOKEN_CONFIG_KEY, resolve_token

#: page size for every list; pages are followed to the end (docs integrations/api/manage-projects.md, and the
#: Relay-style pageInfo the schema declares on every connection)
PAGE_SIZE = 100
#: a bound on pages, so a cursor bug cannot loop forever
MAX_PAGES = 100


class RailwayProvider(ResourceProvider):
    fields: ClassVar[ResourceFields]

    def __init__(self) -> None:
        super().__init__()
        self._config_token: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        token = req.config.get(TOKEN_CONFIG_KEY)
        self._config_token = str(token) if token else None

    def client(self, props: Mapping[str, Any]) -> RailwayClient:
        token = resolve_token(self._config_token, os.environ)
        return RailwayClient(str(props.get("api_url") or DEFAULT_API_URL), token)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(k, f"{k} is required") for k in self.fields.required_keys if not news.get(k)]
        failures += self.validate(news)
        return CheckResult(news, failures)

    def validate(self, _news: Mapping[str, Any]) -> list[CheckFailure]:
        """Checks beyond "required": none unless a resource adds its own."""
        return []

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = self.fields.changed(olds, news) + self.other_changes(olds, news)
        replaces = [k for k in changed if k in self.fields.replace_keys]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))

    def other_changes(self, _olds: Mapping[str, Any], _news: Mapping[str, Any]) -> list[str]:
        """Changes the table cannot see (a secret's digest); none unless a resource adds its own."""
        return []

    def outs(self, props: Mapping[str, Any], **computed: Any) -> dict[str, Any]:
        keep = {k: props.get(k) for k in (*self.fields.input_keys, "api_url")}
        return {**keep, **{k: props.get(k) for k in self.fields.computed_keys}, **computed}

    # -- read and delete: "not found" / "already gone" handled here and nowhere else ----------------------
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            live = self.fetch(self.client(props), id_, props)
        except RailwayError as exc:
            if exc.is_not_found:
                return ReadResult("", {})
            raise
        return ReadResult("", {}) if live is None else ReadResult(id_, live)

    def fetch(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """The live properties, or None when the object no longer exists."""
        return dict(props)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with already_gone_is_done():
            self.remove(self.client(props), id_, props)

    def remove(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> None:
        raise NotImplementedError


@contextmanager
def already_gone_is_done() -> Iterator[None]:
    """Deleting something Railway no longer has is success ("not found", or the "Not Authorized" Railway
    answers for many deleted objects: railwayapp/cli ``src/client.rs``)."""
    try:
        yield
    except RailwayError as exc:
        if not exc.is_gone:
            raise


def create_or_adopt(
    lookup: Callable[[], dict[str, Any] | None], create: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """Adopt what a half-failed run left behind, else create; returns the object and whether it was adopted.

    A create whose outcome is unknown (a 5xx or a lost answer: ``RailwayError.ambiguous``) is never repeated
    blindly, which could make a duplicate ("A service named ... already exists", TF issue #82): it looks again.
    """
    found = lookup()
    if found is not None:
        return found, True
    try:
        return create(), False
    except RailwayError as exc:
        if not exc.ambiguous:
            raise
        found = lookup()
        if found is not None:
            return found, True
        raise RailwayError(
            exc.operation,
            f"{exc.railway_message}; Railway may still have done it: run `pulumi up` again, it adopts what exists",
        ) from None


def all_nodes(
    client: RailwayClient,
    document: str,
    variables: Mapping[str, Any],
    path: tuple[str, ...],
    **execute: Any,
) -> list[dict[str, Any]]:
    """Every node of a paginated connection at ``path`` in the response, following ``pageInfo`` to the end."""
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        data: Any = client.execute(document, {**variables, "first": PAGE_SIZE, "after": after}, **execute)
        for key in path:
            data = data[key]
        nodes += [edge["node"] for edge in data["edges"]]
        page = data.get("pageInfo") or {}
        if not page.get("hasNextPage") or not page.get("endCursor"):
            return nodes
        after = page["endCursor"]
    raise RailwayError(document.split("(")[0].split()[-1], f"more than {MAX_PAGES} pages; refusing to go on")


def edges(connection: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (connection or {}).get("edges", [])]
