"""The image's build rules that can be read without building it (scripts/image-test.sh builds it).

Every Python package comes from a lock file pinned by hash, and the final stage has no installer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"xgboost-cpu": ROOT / "requirements" / "image.lock",
         "xgboost": ROOT / "requirements" / "image-gpu.lock"}


def logical_lines(text: str) -> list[str]:
    """Lines with their backslash continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.split(" #")[0].strip() for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (pinned version, hashes) of a lock file; every entry must be ``name==version --hash=...``."""
    entries: dict[str, tuple[str, list[str]]] = {}
    for line in logical_lines(path.read_text()):
        requirement, *options = line.split()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9._+!-]+)", requirement)
        assert match, f"{path.name}: {requirement!r} is not pinned with =="
        hashes = [o.removeprefix("--hash=sha256:") for o in options]
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{path.name}: {line!r}"
        entries[canonicalize_name(match[1])] = (match[2], hashes)
    return entries


def stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line, continuations joined."""
    text = "\n".join(logical_lines((ROOT / "Dockerfile").read_text()))
    return ["FROM" + part for part in re.split(r"^FROM", text, flags=re.MULTILINE)[1:]]


@pytest.mark.parametrize("lock", LOCKS.values(), ids=lambda p: p.name)
def test_every_locked_package_is_pinned_with_at_least_one_sha256(lock: Path) -> None:
    entries = locked(lock)
    assert entries
    assert all(hashes for _, hashes in entries.values())


@pytest.mark.parametrize(("xgboost", "lock"), LOCKS.items(), ids=lambda v: getattr(v, "name", v))
def test_the_lock_pins_every_dependency_of_pyproject_in_its_range(xgboost: str, lock: Path) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries = locked(lock)
    for text in [*project["project"]["dependencies"], *project["build-system"]["requires"]]:
        requirement = Requirement(text)
        name = xgboost if requirement.name == "xgboost-cpu" else canonicalize_name(requirement.name)
        assert name in entries, f"{lock.name} has no {name} (pyproject: {text}); run scripts/lock-image.sh"
        assert requirement.specifier.contains(entries[name][0], prereleases=True), (
            f"{lock.name} pins {name}=={entries[name][0]}, outside pyproject's {text}")


def test_the_locks_are_for_the_base_images_python() -> None:
    base = re.search(r"^ARG BASE_IMAGE=python:(\d+\.\d+)-", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert base, "the default base image is no longer python:X.Y-..."
    for lock in LOCKS.values():
        assert f"(Python {base[1]}, x86_64 Linux)" in lock.read_text().splitlines()[0]


def test_the_builder_installs_from_the_locks_with_require_hashes_and_wheels_only() -> None:
    builder, *_ = stages()
    installs = [line for line in builder.splitlines() if "pip install" in line]
    from_lock = [line for line in installs if "--require-hashes" in line]
    assert from_lock and all("--only-binary :all:" in line and '-r "$lock"' in line for line in from_lock)
    assert all(f"requirements/{lock.name}" in builder for lock in LOCKS.values())
    for line in installs:  # the project itself: no index to fetch from, no dependency to resolve
        assert "--require-hashes" in line or ("--no-index" in line and "--no-deps" in line), line
    assert "pip uninstall --yes setuptools pip" in builder


def test_the_final_stage_installs_nothing_and_removes_the_base_images_installers() -> None:
    *_, final = stages()
    assert len(stages()) >= 2
    assert "pip install" not in final
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    for removed in ("pip uninstall --yes pip setuptools wheel", "/usr/share/python-wheels", "_bundled"):
        assert removed in final
    assert "USER" not in final.split()  # SageMaker runs the container as root


def test_the_build_context_carries_the_locks() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not any(pattern.strip("/*") == "requirements" for pattern in ignored)


def test_the_builder_leaves_out_plotly_which_the_product_never_imports() -> None:
    """CatBoost requires plotly but imports it only to draw; the image has it uninstalled in the builder."""
    builder, *_ = stages()
    assert "pip uninstall --yes plotly" in builder
    for lock in LOCKS.values():  # the lock still pins it: the uninstall is what leaves it out
        assert {"catboost", "plotly"} <= locked(lock).keys()
    imports = re.compile(r"^\s*(import|from)\s+plotly\b", re.MULTILINE)
    users = [str(path) for path in (ROOT / "src").rglob("*.py") if imports.search(path.read_text())]
    assert not users, f"the image has no plotly (the builder uninstalls it); these import it: {users}"


def test_the_venv_is_slimmed_in_the_builder_so_no_layer_of_the_final_image_holds_what_goes() -> None:
    builder, *_, final = stages()
    for removal in ("-name tests -o -name test", "pyarrow/include", "strip --strip-unneeded"):
        assert removal in builder, removal
    assert '-path "$site/*.libs" -prune' in builder  # auditwheel's patched libraries break when stripped
    final_runs = [line for line in final.splitlines() if line.startswith("RUN")]
    assert final_runs and not any("/opt/venv" in run or "strip" in run for run in final_runs)
