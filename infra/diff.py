"""`llmstack diff`: what a change does to one stack, as Markdown for a pull-request comment.

Both sides are snapshotted by the same command (`llmstack snapshot`) run from their own trees: the base is
exported with ``git archive`` and runs *its* code on *its* data, so a change to the renderer shows up as well as a
change to the catalog. A base too old to have `snapshot` is read with this tree's code instead (and says so).
Needs no cloud credentials, so it works on pull requests from forks.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "<!-- llmstack-diff -->"


@dataclass(frozen=True)
class Snapshot:
    valid: bool
    findings: list[dict[str, Any]]
    config: str | None
    chains: list[dict[str, Any]]
    mermaid: str | None
    resources: list[dict[str, Any]]
    note: str = ""


def snapshot_of(root: Path, stack: str, stacks_dir: Path | None = None) -> Snapshot:
    command = [sys.executable, "-m", "infra.cli", "snapshot", "--stack", stack]
    if stacks_dir is not None:
        command += ["--stacks-dir", str(stacks_dir)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0 or not done.stdout.strip().startswith("{"):
        raise RuntimeError(done.stderr.strip() or done.stdout.strip() or f"snapshot exited {done.returncode}")
    data = json.loads(done.stdout)
    return Snapshot(
        **{k: data.get(k) for k in ("valid", "findings", "config", "chains", "mermaid", "resources")}
    )


def export_tree(repo: Path, ref: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=repo, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise RuntimeError(f"git archive {ref} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def base_snapshot(repo: Path, ref: str, stack: str) -> Snapshot | None:
    """The stack as it was at ``ref``; None when the stack did not exist there."""
    with tempfile.TemporaryDirectory(prefix="llmstack-base-") as tmp:
        tree = Path(tmp)
        export_tree(repo, ref, tree)
        if not (tree / "stacks" / f"Pulumi.{stack}.yaml").exists():
            return None
        try:
            return snapshot_of(tree, stack)
        except RuntimeError:
            # an older tree without `snapshot`: its data through this tree's code
            old = snapshot_of(repo, stack, stacks_dir=tree / "stacks")
            return Snapshot(**{**old.__dict__, "note": "the base was read with this change's code"})


# --- Markdown ---------------------------------------------------------------------------------------------


def _verdict(snapshot: Snapshot | None) -> str:
    if snapshot is None:
        return "absent"
    errors = sum(f["severity"] == "error" for f in snapshot.findings)
    warnings = sum(f["severity"] == "warning" for f in snapshot.findings)
    return f"{'valid' if snapshot.valid else '**invalid**'} ({errors} error(s), {warnings} warning(s))"


def _finding_line(f: dict[str, Any]) -> str:
    where = f"{f['file']}:{f['line']}" if f.get("line") else f["file"]
    return f"- `{where}` `{f['field']}` {f['severity']}[{f['code']}]: {f['message']} (fix: {f['fix']})"


def _key(f: dict[str, Any]) -> tuple[str, str, str]:
    return (f["code"], f["field"], f["message"])


def _chain_rows(base: Snapshot | None, head: Snapshot) -> list[str]:
    before = {c["name"]: c for c in (base.chains if base else [])}
    after = {c["name"]: c for c in head.chains}
    rows = [
        "| group / route | attempt order | providers | worst case | typical request |",
        "|---|---|---|---|---|",
    ]
    for name in list(dict.fromkeys([*after, *before])):
        old, new = before.get(name), after.get(name)

        def order(c: dict[str, Any] | None) -> str:
            return " → ".join(a.split(" ")[0] for a in c["attempts"]) if c else "—"

        def money(c: dict[str, Any] | None) -> str:
            return f"${c['typical_cost_usd']:.6f}" if c else "—"

        def seconds(c: dict[str, Any] | None) -> str:
            return f"{c['worst_case_s']:.0f} s" if c else "—"

        changed = old != new
        gained = sorted(set(new["providers"]) - set(old["providers"])) if old and new else []
        lost = sorted(set(old["providers"]) - set(new["providers"])) if old and new else []
        providers = ", ".join(new["providers"] if new else old["providers"])  # type: ignore[index]
        if gained or lost:
            providers += " (" + ", ".join([*(f"+{p}" for p in gained), *(f"−{p}" for p in lost)]) + ")"
        cells = [
            order(new) if not changed or old is None else f"{order(old)} ⟶ {order(new)}",
            providers,
            seconds(new) if not changed or old is None else f"{seconds(old)} ⟶ {seconds(new)}",
            money(new) if not changed or old is None else f"{money(old)} ⟶ {money(new)}",
        ]
        label = f"**{name}**" if changed else name
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def _resource_changes(base: Snapshot | None, head: Snapshot) -> tuple[list[str], list[str], list[str]]:
    def index(s: Snapshot | None) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["type"], r["name"]): r for r in (s.resources if s else [])}

    before, after = index(base), index(head)
    added = sorted(f"`{t}` {n}" for t, n in after.keys() - before.keys())
    removed = sorted(f"`{t}` {n}" for t, n in before.keys() - after.keys())
    changed = []
    for key in sorted(after.keys() & before.keys()):
        old, new = before[key]["inputs"], after[key]["inputs"]
        fields = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
        if fields:
            changed.append(f"`{key[0]}` {key[1]}: {', '.join(fields)}")
    return added, removed, changed


def markdown(stack: str, ref: str, base: Snapshot | None, head: Snapshot) -> str:
    out = [f"### `{stack}`: `{ref}` → this change", ""]
    out.append(f"**Validation**: {_verdict(head)}; before: {_verdict(base)}.")
    if base is not None and base.note:
        out.append(f"_({base.note})_")
    old_findings = {_key(f) for f in (base.findings if base else [])}
    new_findings = {_key(f) for f in head.findings}
    introduced = [f for f in head.findings if _key(f) not in old_findings and f["severity"] != "info"]
    resolved = [
        f for f in (base.findings if base else []) if _key(f) not in new_findings and f["severity"] != "info"
    ]
    if introduced:
        out += ["", "New findings:", *(_finding_line(f) for f in introduced)]
    if resolved:
        out += ["", "Resolved:", *(_finding_line(f) for f in resolved)]
    if not head.valid:
        out += ["", "This stack would not deploy: fix the findings above."]
        return "\n".join(out) + "\n"
    out += ["", "**Fallback chains** (changed rows in bold)", "", *_chain_rows(base, head)]
    if head.mermaid and (base is None or base.mermaid != head.mermaid):
        out += ["", "<details><summary>Fallback graph, before and after</summary>", ""]
        if base is not None and base.mermaid:
            out += ["Before:", "", "```mermaid", base.mermaid.rstrip(), "```", ""]
        out += ["After:", "", "```mermaid", head.mermaid.rstrip(), "```", "", "</details>"]
    old_config = (base.config or "") if base else ""
    config_diff = list(
        difflib.unified_diff(
            old_config.splitlines(),
            (head.config or "").splitlines(),
            f"{ref}:{stack}",
            f"head:{stack}",
            lineterm="",
        )
    )
    out += [
        "",
        "**Gateway config**: " + ("unchanged." if not config_diff else f"{len(config_diff)} diff lines."),
    ]
    if config_diff:
        out += [
            "",
            "<details><summary>Rendered config diff</summary>",
            "",
            "```diff",
            *config_diff,
            "```",
            "",
            "</details>",
        ]
    added, removed, changed = _resource_changes(base, head)
    out += [
        "",
        "**Declared resources** (dry run under mocks, secrets masked): "
        + (
            f"{len(added)} added, {len(removed)} removed, {len(changed)} changed."
            if added or removed or changed
            else "unchanged."
        ),
    ]
    for title, items in (("Added", added), ("Removed", removed), ("Changed", changed)):
        if items:
            out += ["", f"{title}:", *(f"- {item}" for item in items)]
    return "\n".join(out) + "\n"
