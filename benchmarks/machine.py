"""The machine a benchmark ran on: CPU model and count, instruction-set level, memory, load, software."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> dict:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), None) \
        if Path("/proc/meminfo").exists() else None
    import nutpie
    import pymc

    return {"cpu": model or platform.machine(), "cpus": os.cpu_count(), "avx2": "avx2" in flags, "avx512f": "avx512f" in flags,
            "memory_mb": memory, "load_average_1min": round(os.getloadavg()[0], 2), "python": platform.python_version(),
            "pymc": pymc.__version__, "nutpie": nutpie.__version__}
