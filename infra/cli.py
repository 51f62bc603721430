"""``llmstack``: thin commands over the library. Exit 0 valid, 1 invalid, 2 usage error."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.catalog import CATALOG_NAME, Finding, LoadResult, Severity, discover_stacks
from infra.catalog.loader import find_project_root
from infra.checks import check_stack, has_errors
from infra.explain import explain_text, mermaid, summarize
from infra.render import render_gateway_config

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    root = find_project_root()
    stacks_dir = Path(args.stacks_dir) if args.stacks_dir else root / "stacks"
    catalog = Path(args.catalog) if args.catalog else stacks_dir / CATALOG_NAME
    if not stacks_dir.is_dir():
        raise UsageError(f"no stacks directory at {stacks_dir}")
    return stacks_dir, catalog


def _stacks(args: argparse.Namespace, stacks_dir: Path) -> list[str]:
    known = discover_stacks(stacks_dir)
    wanted: list[str] = list(args.stack or []) or known
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise UsageError(
            f"unknown stack(s): {', '.join(unknown)}; stacks in {stacks_dir}: {', '.join(known) or 'none'}"
        )
    if not wanted:
        raise UsageError(f"no stacks found in {stacks_dir} (expected Pulumi.<stack>.yaml files)")
    return wanted


def _load(args: argparse.Namespace, stack: str) -> LoadResult:
    stacks_dir, catalog = _paths(args)
    return check_stack(stack, stacks_dir=stacks_dir, catalog_path=catalog)


def _print_findings(stack: str, findings: list[Finding], out: Callable[[str], None]) -> None:
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = sum(f.severity is Severity.WARNING for f in findings)
    verdict = "INVALID" if errors else "ok"
    out(f"{stack}: {verdict} ({errors} error(s), {warnings} warning(s))")
    for finding in sorted(findings, key=lambda f: (f.severity is not Severity.ERROR, f.location)):
        out("  " + finding.format().replace("\n", "\n  "))


def cmd_check(args: argparse.Namespace) -> int:
    stacks_dir, _ = _paths(args)
    results = {stack: _load(args, stack) for stack in _stacks(args, stacks_dir)}
    if args.format == "json":
        payload = {
            "valid": all(not has_errors(r.findings) for r in results.values()),
            "stacks": {
                s: {"valid": not has_errors(r.findings), "findings": [f.as_dict() for f in r.findings]}
                for s, r in results.items()
            },
        }
        print(json.dumps(payload, indent=2))
    else:
        for stack, result in results.items():
            _print_findings(stack, result.findings, print)
    return EXIT_INVALID if any(has_errors(r.findings) for r in results.values()) else EXIT_OK


def _valid_spec(args: argparse.Namespace, stack: str) -> LoadResult | None:
    result = _load(args, stack)
    if has_errors(result.findings) or result.spec is None:
        _print_findings(stack, result.findings, lambda line: print(line, file=sys.stderr))
        return None
    return result


def cmd_render(args: argparse.Namespace) -> int:
    stacks_dir, _ = _paths(args)
    (stack,) = _stacks(args, stacks_dir)
    result = _valid_spec(args, stack)
    if result is None or result.spec is None:
        return EXIT_INVALID
    text = render_gateway_config(result.spec)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    stacks_dir, _ = _paths(args)
    (stack,) = _stacks(args, stacks_dir)
    result = _valid_spec(args, stack)
    if result is None or result.spec is None:
        return EXIT_INVALID
    if args.format == "mermaid":
        sys.stdout.write(mermaid(result.spec))
    elif args.format == "json":
        print(json.dumps([s.as_dict() for s in summarize(result.spec)], indent=2))
    else:
        sys.stdout.write(explain_text(result.spec))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    """The offline main job: validate every stack, render each config into build/, print the chains."""
    stacks_dir, _ = _paths(args)
    build = Path(args.build_dir)
    invalid = 0
    for stack in _stacks(args, stacks_dir):
        result = _load(args, stack)
        print(f"=== stack {stack} " + "=" * max(0, 60 - len(stack)))
        _print_findings(stack, result.findings, print)
        if has_errors(result.findings) or result.spec is None:
            invalid += 1
            print()
            continue
        target = build / stack / "litellm-config.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_gateway_config(result.spec), encoding="utf-8")
        print(f"rendered gateway config -> {target}")
        print()
        print(explain_text(result.spec))
        if args.resources:
            print(_declared_resources(stacks_dir, stack))
    if invalid:
        print(f"{invalid} stack(s) invalid: fix the findings above; nothing would be deployed.")
        return EXIT_INVALID
    return EXIT_OK


def cmd_drill(args: argparse.Namespace) -> int:
    from infra.drill import drill_table, run_drill

    stacks_dir, _ = _paths(args)
    (stack,) = _stacks(args, stacks_dir)
    result = _valid_spec(args, stack)
    if result is None or result.spec is None:
        return EXIT_INVALID
    down = {p.strip() for p in args.down.split(",") if p.strip()}
    known = {m.provider for m in result.spec.catalog.models.values()}
    if not down or not down <= set(result.spec.catalog.providers):
        raise UsageError(f"--down takes providers of this stack: {', '.join(sorted(known))}")
    rows = run_drill(result.spec, down)
    if args.format == "json":
        print(json.dumps([{**dataclasses.asdict(r), "ok": r.ok} for r in rows], indent=2))
    else:
        sys.stdout.write(drill_table(rows, down))
    return EXIT_OK if all(r.ok for r in rows) else EXIT_INVALID


def cmd_local(args: argparse.Namespace) -> int:
    """The gateway in the foreground with the stack's rendered config and its log, until stopped."""
    from infra.local import serve

    stacks_dir, _ = _paths(args)
    (stack,) = _stacks(args, stacks_dir)
    result = _valid_spec(args, stack)
    if result is None or result.spec is None:
        return EXIT_INVALID
    return serve(stack, result.spec, simulate=args.simulate, port=args.port, build_dir=Path(args.build_dir))


def cmd_snapshot(args: argparse.Namespace) -> int:
    """Everything `diff` compares about one stack, as JSON (findings, config, chains, graph, resources)."""
    stacks_dir, _ = _paths(args)
    (stack,) = _stacks(args, stacks_dir)
    result = _load(args, stack)
    valid = result.spec is not None and not has_errors(result.findings)
    payload: dict[str, object] = {
        "valid": valid,
        "findings": [f.as_dict() for f in result.findings],
        "config": None,
        "chains": [],
        "mermaid": None,
        "resources": [],
    }
    if valid and result.spec is not None:
        from infra.dryrun import run_program, stack_config

        config, secret_keys = stack_config(stacks_dir / f"Pulumi.{stack}.yaml")
        run = run_program(stack, config, secret_keys)
        payload.update(
            config=render_gateway_config(result.spec),
            chains=[c.as_dict() for c in summarize(result.spec)],
            mermaid=mermaid(result.spec),
            resources=run.snapshot() if run.error is None else [],
        )
    print(json.dumps(payload))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from infra.diff import MARKER, base_snapshot, markdown, snapshot_of

    stacks_dir, _ = _paths(args)
    root = find_project_root()
    sections = [MARKER, f"## llm-stack: what this change does (base `{args.base}`)", ""]
    invalid = False
    for stack in _stacks(args, stacks_dir):
        head = snapshot_of(root, stack)
        try:
            base = base_snapshot(root, args.base, stack)
        except RuntimeError as exc:
            raise UsageError(str(exc)) from exc
        invalid = invalid or not head.valid
        sections.append(markdown(stack, args.base, base, head))
    text = "\n".join(sections)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_INVALID if invalid else EXIT_OK


def cmd_spend(args: argparse.Namespace) -> int:
    """What the stack's gateway spent: today by group and provider, and the last days against the cap."""
    import os

    from infra.spend import SpendError, fetch_budget, format_text, resolve_gateway

    (stack,) = args.stack
    try:
        gateway = resolve_gateway(stack, args.url, args.key, os.environ, find_project_root())
        report = fetch_budget(gateway, days=args.days)
    except SpendError as exc:
        print(f"llmstack spend: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(format_text(report))
    return EXIT_OK


def _declared_resources(stacks_dir: Path, stack: str) -> str:
    # imported here: only `plan` pays for Pulumi's import
    from infra.dryrun import describe, run_program, stack_config

    config, secret_keys = stack_config(stacks_dir / f"Pulumi.{stack}.yaml")
    run = run_program(stack, config, secret_keys)
    if run.error is not None:
        return f"the program failed under mocks: {run.error}"
    header = (
        f"resources the Pulumi program declares for {stack} ({len(run.registrations)}; a dry run of the program "
        "under mocks, not a provider preview; secrets masked):"
    )
    return "\n".join([header, *("  " + line for line in describe(run))]) + "\n"


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, many: bool) -> None:
        if many:
            p.add_argument(
                "--stack", action="append", metavar="NAME", help="a stack (repeatable; default: all)"
            )
        else:
            p.add_argument("--stack", action="append", metavar="NAME", required=True, help="the stack")
        p.add_argument("--catalog", metavar="PATH", help="the catalog (default: stacks/catalog.yaml)")
        p.add_argument(
            "--stacks-dir", metavar="DIR", help="where Pulumi.<stack>.yaml live (default: stacks/)"
        )

    check = sub.add_parser("check", help="validate stacks (exit 1 if any is invalid)")
    common(check, many=True)
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.set_defaults(func=cmd_check)

    render = sub.add_parser("render", help="render a stack's LiteLLM gateway config")
    common(render, many=False)
    render.add_argument("-o", "--output", metavar="FILE")
    render.set_defaults(func=cmd_render)

    explain = sub.add_parser("explain", help="attempt order, survival, worst-case time and cost per group")
    common(explain, many=False)
    explain.add_argument("--format", choices=["text", "json", "mermaid"], default="text")
    explain.set_defaults(func=cmd_explain)

    drill = sub.add_parser("drill", help="run the real proxy against the simulator with providers down")
    common(drill, many=False)
    drill.add_argument("--down", required=True, metavar="PROVIDER[,PROVIDER]")
    drill.add_argument("--format", choices=["text", "json"], default="text")
    drill.set_defaults(func=cmd_drill)

    local = sub.add_parser("local", help="run the gateway locally with the stack's rendered config")
    common(local, many=False)
    local.add_argument("--simulate", action="store_true", help="answer from the provider simulator")
    local.add_argument("--port", type=_port, default=4000, help="the gateway's port (default 4000)")
    local.add_argument("--build-dir", default="build", metavar="DIR")
    local.set_defaults(func=cmd_local)

    diff = sub.add_parser(
        "diff", help="Markdown: what the working tree changes against a base ref, per stack"
    )
    common(diff, many=True)
    diff.add_argument("--base", required=True, metavar="GIT_REF")
    diff.add_argument("-o", "--output", metavar="FILE")
    diff.set_defaults(func=cmd_diff)

    snapshot = sub.add_parser("snapshot", help="one stack's findings, config, chains and resources as JSON")
    common(snapshot, many=False)
    snapshot.set_defaults(func=cmd_snapshot)

    spend = sub.add_parser("spend", help="what a stack's gateway spent: today's split and the last days")
    spend.add_argument("--stack", action="append", metavar="NAME", required=True, help="the stack")
    spend.add_argument("--url", metavar="URL", help="the gateway (default: the stack's gateway_url output)")
    spend.add_argument(
        "--key", metavar="KEY", help="its master key (default: LITELLM_MASTER_KEY, else the output)"
    )
    spend.add_argument("--days", type=int, default=7, choices=range(1, 32), metavar="1..31")
    spend.add_argument("--format", choices=["text", "json"], default="text")
    spend.set_defaults(func=cmd_spend)

    plan = sub.add_parser("plan", help="check all stacks, render configs into build/, print chains")
    common(plan, many=True)
    plan.add_argument("--build-dir", default="build", metavar="DIR")
    plan.add_argument(
        "--no-resources",
        dest="resources",
        action="store_false",
        help="skip the dry run of the Pulumi program",
    )
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (
        getattr(args, "stack", None)
        and args.command in ("render", "explain", "drill", "local", "spend")
        and len(args.stack) != 1
    ):
        parser.error(f"{args.command} takes exactly one --stack")
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"llmstack: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
