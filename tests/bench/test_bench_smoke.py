"""Every benchmark script runs in its small ``--smoke`` mode and prints ratios, so none can rot unnoticed.

Scripts are found by glob: a new ``bench/*.py`` is covered without touching this file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted((ROOT / "bench").glob("*.py"))
#: a ratio as the scripts print it: a number followed by "×" or "x" (1.08×, 0.16x, 20 x)
RATIO = re.compile(r"\d(?:\.\d+)?\s?[×x](?![A-Za-z])")
#: script -> why its --smoke is not there yet (strict: the test fails once it is, so the entry gets removed)
SMOKE_PENDING: dict[str, str] = {}
SMOKE_TIMEOUT_S = 240


def test_the_glob_finds_the_benchmarks() -> None:
    assert {"check_speed.py", "gateway_bench.py"} <= {script.name for script in SCRIPTS}


def test_the_ratio_pattern_accepts_ratios_and_rejects_bare_timings() -> None:
    assert RATIO.search("  check --stack prod   0.06x") and RATIO.search("ttft with/without hook 1.04×")
    assert not RATIO.search("p50 12.3 ms, p99 40 ms, 0 errors, max 3 xs")


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(s, id=s.name, marks=pytest.mark.xfail(reason=SMOKE_PENDING[s.name], strict=True))
        if s.name in SMOKE_PENDING
        else pytest.param(s, id=s.name)
        for s in SCRIPTS
    ],
)
def test_benchmark_smoke_run_prints_ratios(script: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script.name} --smoke exited {done.returncode}:\n{output[-3000:]}"
    assert RATIO.search(done.stdout), f"{script.name} --smoke printed no ratio:\n{done.stdout[-3000:]}"
    assert "Traceback" not in done.stderr, (
        f"{script.name} --smoke printed a traceback:\n{done.stderr[-3000:]}"
    )
