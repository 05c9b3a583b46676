"""The on-disk cache of compiled kernels goes stale when any kernel module changes, not just the
kernel's own file (kernels inline helpers from the other kernel modules)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model import kernels

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="needs numba")

HELPER = '''from model.kernels import njit


@njit(cache=True)
def helper():
    return {value}
'''
KERNEL = '''from model.kernels import njit
from model.random_replay import helper


@njit(cache=True)
def kernel():
    return helper() * 10
'''


def _package(tmp_path: Path) -> Path:
    """A copy of model/kernels.py beside two small kernel modules: one kernel calling a helper."""
    pkg = tmp_path / "model"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copy(ROOT / "model" / "kernels.py", pkg / "kernels.py")
    (pkg / "kernels_phases.py").write_text("")
    (pkg / "random_replay.py").write_text(HELPER.format(value=1))
    (pkg / "tender_kernel.py").write_text(KERNEL)
    return pkg


def _kernel_value(tmp_path: Path) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "CLUSTERLINK_NUMBA")}
    env["PYTHONPATH"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", "from model.tender_kernel import kernel; print(kernel())"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_a_changed_helper_module_recompiles_the_cached_kernel_that_calls_it(tmp_path):
    pkg = _package(tmp_path)
    assert _kernel_value(tmp_path) == 10
    assert list((pkg / "__pycache__").glob("tender_kernel.kernel-*.nbi")), "the kernel was not cached on disk"
    helper = pkg / "random_replay.py"
    kernel_file = pkg / "tender_kernel.py"
    before = kernel_file.stat()
    helper.write_text(HELPER.format(value=2))  # the kernel's own file is untouched
    assert kernel_file.stat().st_mtime_ns == before.st_mtime_ns
    assert _kernel_value(tmp_path) == 20, "the cached kernel still ran the old helper"


def test_the_model_kernels_use_the_stamped_cache_and_other_code_does_not(tmp_path):
    from model import tender_kernel

    stamped = [d for d in vars(tender_kernel).values() if hasattr(d, "_cache") and hasattr(d._cache, "_impl")]
    assert stamped, "no cached kernels found in model.tender_kernel"
    stamp = ("clusterlink kernel sources", kernels.kernel_sources_digest())
    assert all(d._cache._impl.locator.get_source_stamp() == stamp for d in stamped)

    other = tmp_path / "elsewhere.py"
    other.write_text("from numba import njit\n\n\n@njit(cache=True)\ndef f():\n    return 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import elsewhere

        assert not getattr(type(elsewhere.f._cache._impl.locator), "_clusterlink", False)
        assert elsewhere.f._cache._impl.locator.get_source_stamp() != stamp
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("elsewhere", None)
