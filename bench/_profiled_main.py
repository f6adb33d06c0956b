"""`intake` under cProfile, for bench/intake_load.py --profile only.

Run: python bench/_profiled_main.py OUT.pstats serve   (arguments after OUT go to `intake`)

The stats are written when the command returns (SIGTERM stops `intake serve` cleanly).
"""

from __future__ import annotations

import cProfile
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.main import main

if __name__ == "__main__":
    out = sys.argv[1]
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        main(sys.argv[2:], prog_name="intake")
    finally:
        profiler.disable()
        profiler.dump_stats(out)
