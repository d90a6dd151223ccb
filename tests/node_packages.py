"""Pinned Node packages for the tests that run real Botpress JavaScript code against Parley.

A test directory holds a package.json and a package-lock.json with exact versions. `npm ci` installs
its node_modules from the lock file once; a stamp file written afterwards (the lock file's digest)
tells later runs that nothing changed, so they start at once and offline.
"""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Written in node_modules after a successful `npm ci`: the digest of the lock file it installed.
STAMP_NAME = ".parley-package-lock.sha256"


def _lock_digest(package_dir: Path) -> str:
    return hashlib.sha256((package_dir / "package-lock.json").read_bytes()).hexdigest()


def _installed_digest(package_dir: Path) -> str | None:
    try:
        return (package_dir / "node_modules" / STAMP_NAME).read_text().strip()
    except FileNotFoundError:
        return None


def node_with_packages(package_dir: Path, needed_by: str) -> str:
    """The `node` executable, with the packages locked in `package_dir` installed there.

    Without node or npm on PATH the calling test is skipped, or failed under CI (`CI` set), which
    must run every test. `needed_by` names the tests in those messages."""
    node_path, npm_path = shutil.which("node"), shutil.which("npm")
    if node_path is None or npm_path is None:
        missing = " and ".join(name for name, path in (("node", node_path), ("npm", npm_path)) if path is None)
        if os.environ.get("CI"):
            pytest.fail(f"{missing} not on PATH, and CI must run {needed_by}.")
        pytest.skip(f"{missing} not on PATH: {needed_by} need Node.js 18+ and npm.")
    digest = _lock_digest(package_dir)
    if _installed_digest(package_dir) != digest:
        result = subprocess.run(
            [npm_path, "ci", "--no-audit", "--no-fund"],
            cwd=package_dir,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"`npm ci` in {package_dir} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        (package_dir / "node_modules" / STAMP_NAME).write_text(digest + "\n")
    return node_path


def assert_pinned(
    package_dir: Path,
    direct: dict[str, str],
    locked: dict[str, str] | None = None,
    *,
    overrides: dict[str, str] | None = None,
) -> None:
    """package.json asks for exactly the `direct` packages at exact versions, overriding exactly the
    `overrides` (none by default), and the lock file resolves them, and the `locked` indirect ones,
    to those versions."""
    package = json.loads((package_dir / "package.json").read_text())
    assert package["private"] is True
    assert package["dependencies"] == direct
    assert package.get("overrides", {}) == (overrides or {})
    lock = json.loads((package_dir / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == direct
    for name, version in {**direct, **(locked or {})}.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name


def run_node(node: str, script: Path, *, env: dict[str, str], failure: str, timeout: float = 600) -> str:
    """Runs a Node script beside its packages and returns what it printed; fails the calling test
    with `failure`, the exit code and the script's output when it exits non-zero."""
    result = subprocess.run(
        [node, str(script)],
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        stderr = f"\n--- stderr ---\n{result.stderr}" if result.stderr else ""
        pytest.fail(f"{failure} (exit {result.returncode}):\n{result.stdout}{stderr}", pytrace=False)
    return result.stdout


def node_env(**extra: str) -> dict[str, str]:
    """The environment for a Node process, without the caller's BP_* variables: the Botpress
    client falls back to them (BP_TOKEN, BP_API_URL, BP_BOT_ID, ...), and none may leak in."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BP_")}
    env.update(extra)
    return env
