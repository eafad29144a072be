"""The ``machine`` block every benchmark prints beside its figures."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version


def machine(packages=("tensorflow", "keras")) -> dict:
    """CPU model and SIMD flags, cores, memory, Python and the given packages' versions."""
    cpu, flags = "unknown", []
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
            if f in flags]
    info = {"cpu": cpu, "simd": simd, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "python": platform.python_version(), "platform": platform.platform()}
    for name in packages:
        try:
            info[name.replace("-", "_")] = version(name)
        except PackageNotFoundError:
            info[name.replace("-", "_")] = None
    return info
