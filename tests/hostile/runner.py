"""Table-driven hostile-input cases: each row is a command, the exit status it must end with,
the words its one-line error must contain, and what must be unchanged on disk afterwards.

A case runs the real CLI in-process (click's runner; ``noisymix`` as a user types it). Paths
in ``argv`` may use ``{tmp}`` (the case's scratch folder) and the shared fixtures ``{run}``
(a trained model folder), ``{ckpt}``, ``{cbench}`` (a small -C folder), ``{pbench}`` (-P).
``setup(tmp, fx)`` builds the hostile input first. Every case also asserts: no traceback is
printed, and exit 0 only where expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path
from typing import Callable

from click.testing import CliRunner


@dataclasses.dataclass
class Case:
    id: str
    argv: list[str]
    exit: int                                  # expected exit status
    words: tuple[str, ...] = ()                # the error output must contain each (any case)
    setup: Callable[[Path, dict], None] | None = None
    unchanged: tuple[str, ...] = ()            # paths (formatted like argv) not to be modified
    absent: tuple[str, ...] = ()               # paths (formatted) that must not exist after
    check: Callable[[Path, dict, str], None] | None = None  # extra assertion (tmp, fx, output)

    def __str__(self) -> str:
        return self.id


def _digest(path: Path) -> str:
    if not path.exists():
        return "missing"
    if path.is_dir():
        parts = [f"{p.relative_to(path)}:{_digest(p)}" for p in sorted(path.rglob("*"))
                 if p.is_file()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_case(case: Case, tmp: Path, fx: dict) -> str:
    from noisymix.cli import main

    names = {"tmp": str(tmp), **{k: str(v) for k, v in fx.items()}}
    fmt = lambda s: s.format(**names)  # noqa: E731
    if case.setup is not None:
        case.setup(tmp, fx)
    before = {p: _digest(Path(fmt(p))) for p in case.unchanged}
    result = CliRunner().invoke(main, [fmt(a) for a in case.argv], catch_exceptions=True)
    out = (result.output or "") + (getattr(result, "stderr", "") or "")
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), (
        f"{case.id}: uncaught {type(exc).__name__}: {exc}\n{out}")
    assert "Traceback" not in out, f"{case.id}: traceback\n{out}"
    assert result.exit_code == case.exit, f"{case.id}: exit {result.exit_code}, not {case.exit}\n{out}"
    low = out.lower()
    for w in case.words:
        assert w.lower() in low, f"{case.id}: {w!r} not in output\n{out}"
    if case.exit:
        errs = [line for line in out.splitlines() if "error" in line.lower()]
        assert errs, f"{case.id}: no error line\n{out}"
    for p, d in before.items():
        assert _digest(Path(fmt(p))) == d, f"{case.id}: {fmt(p)} changed"
    for p in case.absent:
        assert not Path(fmt(p)).exists(), f"{case.id}: {fmt(p)} exists"
    if case.check is not None:
        case.check(tmp, fx, out)
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
