"""Run-time access to the reference implementations for the side-by-side benchmarks.

Nothing of the references is vendored: each benchmark takes ``--reference PATH`` (a checkout of
the reference repository) and imports from it at run time. The helpers here only locate and
import that code and shim it where a current environment or a CPU machine needs it: stand-ins
for missing optional modules, hard-coded CUDA calls made CPU no-ops, and small wrappers for
APIs that newer numpy / scikit-image removed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import platform
import sys
import types
from pathlib import Path

import numpy
import torch


def machine_line(device) -> str:
    """One line naming the machine, torch, threads and device (printed by every benchmark)."""
    proc = platform.processor() or platform.machine()
    where = str(device)
    if str(device).startswith("cuda") and torch.cuda.is_available():
        where += f" ({torch.cuda.get_device_name(torch.device(device))})"
    return (f"# machine: {proc}, {os.cpu_count()} cpus | torch {torch.__version__} | "
            f"threads {torch.get_num_threads()} | device {where}")


def checkout(path: str, flag: str, what: str, *required: str) -> Path:
    """The checkout at ``path``; exits with one line naming ``flag`` if a required file is
    missing."""
    root = Path(path).expanduser()
    missing = [r for r in required if not (root / r).is_file()]
    if not root.is_dir() or missing:
        why = "no such directory" if not root.is_dir() else f"no {missing[0]}"
        sys.exit(f"error: {flag} {path}: not a checkout of {what} ({why})")
    return root


def load_definitions(file: Path, name: str, **globals_) -> types.ModuleType:
    """Import the definitions of a script-like module without running its main body.

    The file is parsed and only its imports, function and class definitions and call-free
    assignments to names or attributes (constants, ctypes signatures) are compiled and
    executed, in a fresh module
    registered as ``name``; loops, data loading and argument parsing at top level are skipped.
    ``globals_`` pre-populates the module (e.g. the ``args`` its functions read).
    """
    tree = ast.parse(Path(file).read_text(), filename=str(file))
    defs = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    tree.body = [n for n in tree.body if isinstance(n, defs) or (
        isinstance(n, (ast.Assign, ast.AnnAssign))
        and not any(isinstance(c, (ast.Call, ast.Subscript)) for c in ast.walk(n)))]
    mod = types.ModuleType(name)
    mod.__file__ = str(file)
    mod.__dict__.update(globals_)
    sys.modules[name] = mod
    exec(compile(tree, str(file), "exec"), mod.__dict__)  # noqa: S102 - the user's checkout
    return mod


class _MissingMeta(type):
    def __getattr__(cls, attr):  # any attribute of a stand-in is the stand-in
        return cls

    def __call__(cls, *a, **k):
        raise ImportError(f"{cls.__qualname__} is not available here")


def _stand_in(module: str, attr: str):
    if attr.startswith("__"):
        raise AttributeError(attr)
    return _MissingMeta(f"{module}.{attr}", (), {})


def stub_missing(*names: str) -> list[str]:
    """Stand-ins for modules that fail to import; returns the names that had to be stubbed.

    A stand-in module answers any attribute with a class that can be subclassed and given
    attributes, and raises ImportError when called, so a reference module that imports it at
    top level loads and only the functions that really use it fail.
    """
    stubbed = []
    for name in names:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - ImportError, or a binding whose C library is absent
            stubbed.append(name)
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                sub = ".".join(parts[:i])
                if sub in sys.modules:  # the real package, or a stand-in made already
                    continue
                mod = types.ModuleType(sub)
                mod.__getattr__ = lambda attr, sub=sub: _stand_in(sub, attr)
                sys.modules[sub] = mod
                if i > 1:
                    setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], mod)
    return stubbed


def numpy_with(**overrides) -> types.ModuleType:
    """A view of numpy with some attributes replaced, to put in a reference module's ``np``."""
    mod = types.ModuleType("numpy")
    mod.__getattr__ = lambda attr: getattr(numpy, attr)
    mod.__dict__.update(overrides)
    return mod


def fromstring_bytes(s, dtype=float, count=-1, sep=""):
    """``np.fromstring`` for binary input (removed in numpy 2): a copy of ``np.frombuffer``."""
    if sep:
        return numpy.fromstring(s, dtype, count, sep=sep)
    return numpy.frombuffer(s, dtype, count).copy()


@contextlib.contextmanager
def cuda_calls_on_cpu(active: bool = True):
    """While active, hard-coded CUDA calls of a reference run on the CPU instead.

    ``Tensor.cuda``/``Module.cuda`` return self, ``torch.cuda.FloatTensor(shape)`` allocates a
    CPU float tensor, ``torch.cuda.device(i)`` is a no-op context. Everything is restored on
    exit, so noisymix itself never runs under the shim.
    """
    if not active:
        yield
        return
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr in (
        (torch.Tensor, "cuda"), (torch.nn.Module, "cuda"), (torch.cuda, "FloatTensor"),
        (torch.cuda, "device"))]
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    torch.cuda.FloatTensor = lambda *shape: torch.empty(*shape)
    torch.cuda.device = lambda *a, **k: contextlib.nullcontext()
    try:
        yield
    finally:
        for owner, attr, value in saved:
            setattr(owner, attr, value)


def noisymix_args(**overrides) -> argparse.Namespace:
    """The settings of erichson/NoisyMix's README command for CIFAR (PreActResNet-18 NoisyMix)."""
    args = argparse.Namespace(
        augmix=1, jsd=1, alpha=1.0, manifold_mixup=1, add_noise_level=0.5, mult_noise_level=0.5,
        sparse_level=0.65, all_ops=False, mixture_width=3, mixture_depth=-1, aug_severity=3,
        no_jsd=False)
    vars(args).update(overrides)
    return args
