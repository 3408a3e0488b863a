"""Every example in the README and in docs/ runs, so the documentation cannot go stale.

Each ``bash``, ``python`` or ``json`` block is preceded by a marker that says how it is tested:
``<!-- example: run -->`` (as written, with the repository's Python and a free port),
``<!-- example: dry-run -->`` (each ``ensemble-byoc`` command with ``--dry-run``),
``<!-- example: recorder -->`` (Python against the moto request recorder), or
``<!-- example: not-run: <reason> -->``, listed in docs/development.md. The README's demo output is
compared with a real run of what ``make demo`` runs.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import free_port
from moto_recorder import MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CHECKED_LANGUAGES = ("bash", "sh", "python", "json")
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!-- example: (run|dry-run|recorder|sdk3|not-run)(?:: (.+?))? -->$")
SDK3_PYTHON = ROOT / ".venv-sdk3" / "bin" / "python"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    code: str
    how: str | None
    reason: str | None

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    start = language = None
    for number, line in enumerate(lines):
        fence = _FENCE.match(line)
        if not fence:
            continue
        if start is None:
            start, language = number, fence.group(1)
            continue
        previous = next((text for text in reversed(lines[:start]) if text.strip()), "")
        marker = _MARKER.match(previous.strip())
        found.append(Block(page, start + 1, language or "", "\n".join(lines[start + 1:number]) + "\n",
                           marker.group(1) if marker else None, marker.group(2) if marker else None))
        start = None
    return found


ALL = [block for page in PAGES for block in blocks(page)]
CHECKED = [block for block in ALL if block.language in CHECKED_LANGUAGES]


def of(how: str) -> list[Block]:
    return [block for block in CHECKED if block.how == how]


def test_every_example_says_how_it_is_tested() -> None:
    unmarked = [block.name for block in CHECKED if block.how is None]

    assert unmarked == [], "add <!-- example: run|dry-run|recorder|sdk3|not-run: reason --> before each"


def test_every_example_that_does_not_run_has_a_reason_and_is_listed_in_one_place() -> None:
    listed = (ROOT / "docs" / "development.md").read_text().split("## Examples that do not run")[1]

    for block in of("not-run"):
        assert block.reason, block.name
        first = block.code.splitlines()[0].split("#")[0].rstrip(" \\")[:25]
        assert first in listed, f"{block.name}: list {first!r} in docs/development.md"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.mark.parametrize("block", of("run"), ids=lambda block: block.name)
def test_example_runs_as_written(block: Block, tmp_path: Path) -> None:
    code = block.code.replace(".venv/bin/python", sys.executable).replace("8080", str(free_port()))
    if block.language == "python":
        command = [sys.executable, "-c", code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]

    result = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600,
                            check=False)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


def dry_run_script(code: str) -> str:
    """The block with each ``ensemble-byoc`` command given ``--dry-run`` (after its comment is cut)."""
    joined = code.replace("\\\n", " ")
    lines = []
    for line in joined.splitlines():
        if line.lstrip().startswith("ensemble-byoc "):
            line = line.split(" #")[0].rstrip() + " --dry-run"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block", of("dry-run"), ids=lambda block: block.name)
def test_launcher_example_runs_as_a_dry_run(block: Block, tmp_path: Path) -> None:
    env = _env(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    for name in [name for name in env if name.startswith("AWS_") and "FILE" not in name]:
        del env[name]

    result = subprocess.run(["bash", "-euo", "pipefail", "-c", dry_run_script(block.code)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=600, check=False)

    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.count('"operation"') >= 5 or "image_uri" in result.stdout


@pytest.mark.parametrize("block", of("recorder"), ids=lambda block: block.name)
def test_python_launcher_example_runs_against_the_recorder(block: Block, aws: MotoServer) -> None:
    result = subprocess.run([sys.executable, "-c", block.code], cwd=ROOT, env=dict(os.environ),
                            capture_output=True, text=True, timeout=600, check=False)

    assert result.returncode == 0, result.stderr[-4000:]
    operations = [operation for operation, _ in aws.requests()]
    assert operations.count("CreateTrainingJob") == 2
    assert "CreateHyperParameterTuningJob" in operations and "CreateTransformJob" in operations
    assert result.stdout.splitlines()[-1] == "CreateTrainingJob"


@pytest.mark.parametrize("block", of("sdk3"), ids=lambda block: block.name)
def test_sdk3_model_trainer_example_sends_our_metric_definitions(block: Block, aws: MotoServer) -> None:
    if not SDK3_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(".venv-sdk3 is missing: make test creates it")
        pytest.skip(".venv-sdk3 is missing: run make test (or make .venv-sdk3/.installed)")
    env = dict(os.environ, AWS_ENDPOINT_URL=aws.url)

    result = subprocess.run([str(SDK3_PYTHON), "-c", block.code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600, check=False)

    assert result.returncode == 0, result.stderr[-4000:]
    ((operation, request),) = [item for item in aws.requests() if item[0] == "CreateTrainingJob"]
    from ensemble_byoc.training.metric_lines import metric_definitions_for

    assert request["AlgorithmSpecification"]["MetricDefinitions"] == metric_definitions_for(
        "binary", ("catboost", "lightgbm", "xgboost"))
    assert request["AlgorithmSpecification"]["TrainingImage"].endswith("/ensemble-byoc:latest")


def same_line(expected: str, actual: str) -> bool:
    """Equal, with every number within a relative 1e-3 (thread counts may move the last digits)."""
    if _NUMBER.sub("#", expected) != _NUMBER.sub("#", actual):
        return False
    pairs = zip(_NUMBER.findall(expected), _NUMBER.findall(actual), strict=True)
    return all(math.isclose(float(a), float(b), rel_tol=1e-3) for a, b in pairs)


def test_the_readme_shows_what_make_demo_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- demo-output -->")[1].split("```text\n")[1].split("```")[0].splitlines()

    result = subprocess.run(["bash", str(ROOT / "local_test" / "run_local.sh"), sys.executable], cwd=ROOT,
                            env=_env(), capture_output=True, text=True, timeout=600, check=False)

    assert result.returncode == 0, result.stderr[-4000:]
    printed = result.stdout.splitlines()
    position = 0
    for line in shown:
        matches = [i for i in range(position, len(printed)) if same_line(line, printed[i])]
        assert matches, f"the README shows {line!r}, which make demo no longer prints:\n{result.stdout}"
        position = matches[0] + 1


def test_every_relative_link_in_the_pages_points_to_a_file_of_the_repository() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")

    assert broken == []
