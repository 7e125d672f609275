"""What every benchmark shares: the machine it ran on, and how its record is printed and written."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.atomic import write_atomic  # noqa: E402


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


def publish(record: dict, out: Path | None) -> None:
    """Print the record as JSON and, with `out`, write it there atomically."""
    text = json.dumps(record, indent=1)
    print(text)
    if out:
        write_atomic(out, lambda tmp: tmp.write_text(text + "\n"))
