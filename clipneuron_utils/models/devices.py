"""Where torch computes: the ``device`` parameter (``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``) resolved and
checked, the CPU threads to use, and the device's name for the provenance.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any




#: what the ``device`` parameter may say (``parameters.RULES`` checks the same before any kernel starts)
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(?::\d+)?")


DEVICE_CHOICES = "'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N' (N: a GPU index such as 0)"


class DeviceError(ValueError):
    """A ``device`` that is not one of auto / cpu / cuda / cuda:N, or CUDA asked for where there is none."""


def resolve_device(device: Any = "auto", *, parameter: str = "device"):
    """The ``torch.device`` that ``device`` names: ``"auto"`` is CUDA when ``torch.cuda.is_available()``,
    else the CPU; ``"cpu"``, ``"cuda"`` (the current GPU) and ``"cuda:N"`` are taken as they are.

    Raises :class:`DeviceError` naming ``parameter`` for any other text (``"gpu"``, ``"cuda:x"``) and when
    CUDA is asked for on a machine without it (use ``cpu`` or ``auto`` there). A ``torch.device`` passes
    through the same checks.
    """
    import torch

    text = str(device) if isinstance(device, torch.device) else device
    if not isinstance(text, str) or not DEVICE_PATTERN.fullmatch(text):
        hint = " (for a GPU write cuda or cuda:0)" if isinstance(text, str) and text.strip().lower() in (
            "gpu", "cuda0", "nvidia", "gpu:0") else ""
        raise DeviceError(f"{parameter} must be {DEVICE_CHOICES}; got {device!r}{hint}")
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceError(
            f"{parameter}={text!r} asks for CUDA, but CUDA is not available on this machine "
            f"(torch.cuda.is_available() is False; torch {torch.__version__}, {build}). "
            f"Use {parameter}=cpu, or {parameter}=auto (CUDA when available, else CPU): e.g. -p {parameter}=auto")
    count = torch.cuda.device_count()
    index = int(text.split(":")[1]) if ":" in text else torch.cuda.current_device()
    if index >= count:
        raise DeviceError(f"{parameter}={text!r}: this machine has {count} CUDA device(s), cuda:0 to "
                          f"cuda:{count - 1}. Use one of them, or {parameter}=auto")
    return torch.device("cuda", index)


def physical_cores() -> int:
    """Cores (not hardware threads) this process may run on, within a cgroup CPU quota if one is set.

    Counts the distinct (package, core) pairs of the CPUs in the affinity mask (Linux sysfs; elsewhere
    ``os.cpu_count()``), so a hyper-threaded core counts once, and caps by ``/sys/fs/cgroup/cpu.max``.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topology.joinpath("physical_package_id").read_text().strip(),
                       topology.joinpath("core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    count = len(cores) or len(cpus)
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, -(-int(quota) // int(period))))
    return max(1, count)


def use_all_cores() -> int:
    """Set torch's intra-op threads to :func:`physical_cores` (unless ``OMP_NUM_THREADS`` or
    ``MKL_NUM_THREADS`` says otherwise, which wins); returns the threads torch now uses.

    The thread count can change float summation order, so results are bit-identical only between runs
    with the same count: torch's own default is already the physical core count on most machines (then
    this changes nothing); it corrects a process pinned to fewer cores or capped by a cgroup quota, where
    more threads than cores would only wait on each other.
    """
    import torch

    threads = cpu_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def cpu_threads() -> int:
    """The intra-op threads CPU work runs with: :func:`physical_cores`, or torch's current count when
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` is set (the user's choice wins)."""
    import torch

    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
        return torch.get_num_threads()
    return physical_cores()


def prepare_device(device: Any) -> None:
    """Before encoding or training on ``device``: on the CPU, use every core (:func:`use_all_cores`)."""
    import torch

    if torch.device(device).type == "cpu":
        use_all_cores()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :mod:`platform`)."""
    import platform

    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm", "cpu model")) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: Any = "auto") -> str:
    """The hardware behind ``device``: ``torch.cuda.get_device_name`` for CUDA, the CPU model for the CPU."""
    import torch

    device = resolve_device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def describe_device(device: Any = "auto") -> str:
    """One line for provenance, e.g. ``cpu (Intel(R) Xeon(R) …, 2 torch threads)`` or
    ``cuda:0 (NVIDIA H100 80GB HBM3; torch 2.5.1, CUDA 12.4)``."""
    import torch

    device = resolve_device(device)
    if device.type == "cuda":
        return f"{device} ({device_name(device)}; torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"cpu ({cpu_model()}, {cpu_threads()} torch threads; torch {torch.__version__})"
