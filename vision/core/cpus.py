"""How many CPUs this process may really use: its CPU affinity, capped by a cgroup CPU quota (a container limited
to 2 CPUs on a 64-core host must not start 63 inference threads, which is what `os.cpu_count() - 1` gives)."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path


def _quota_v2(root: Path, group: str) -> float | None:
    """The tightest `cpu.max` quota from the process's cgroup up to the root (limits nest)."""
    tightest: float | None = None
    folder = root / group.lstrip("/")
    while True:
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            if quota != "max":
                cpus = int(quota) / int(period)
                tightest = cpus if tightest is None else min(tightest, cpus)
        except (OSError, ValueError):
            pass
        if folder == root or root not in folder.parents:
            return tightest
        folder = folder.parent


def _quota_v1(root: Path, group: str) -> float | None:
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for folder in (root / controller / group.lstrip("/"), root / controller):
            try:
                quota = int((folder / "cpu.cfs_quota_us").read_text())
                period = int((folder / "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            return quota / period if quota > 0 and period > 0 else None
    return None


def cgroup_cpu_quota(
    proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")
) -> float | None:
    """CPUs the cgroup quota allows (e.g. 1.5), or None when there is no quota (or no cgroup file system)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, group = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            return _quota_v2(root, group)
        if "cpu" in controllers.split(","):
            return _quota_v1(root, group)
    return None


def available_cpus() -> int:
    """Whole CPUs for this process: its affinity, capped by the cgroup quota rounded up (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cpu_description() -> str:
    """The CPU model and the vector extensions int8 inference speed depends on, for benchmark output:
    e.g. "AMD EPYC (avx2, avx512_vnni, avx512f)"."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            fields.setdefault(name.strip(), value.strip())  # the first CPU's
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or "unknown CPU"
    vector = sorted(set(fields.get("flags", "").split()) & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"})
    return f"{model} ({', '.join(vector) or 'no AVX2'})"
