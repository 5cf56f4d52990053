"""How long `tracker-service --help` (and `--version`) take: the CLI's start-up cost.

Each command runs `--runs` times as a fresh process (after one warm-up run, so the page
cache is warm as it is for a user's second call); the median and the spread are reported
and written to the `cli_startup` section of RESULTS.md. The target is under 1 s: the
commands import PyTorch, Ultralytics and OpenCV only when they need them.

    uv run python benchmarks/cli_startup.py [--runs 15] [--no-results]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import RESULTS_FILE, command_line, machine_lines, markdown_table, write_section

SECTION = "cli_startup"
COMMANDS = (["--help"], ["--version"], ["track", "--help"])


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (user + system) of each run; CPU time moves less with the
    machine's load than wall-clock time does."""
    executable = Path(sys.executable).parent / "tracker-service"
    command = [str(executable), *argv]
    subprocess.run(command, capture_output=True, check=True)  # warm-up
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu_before = time.perf_counter(), _children_cpu_s()
        subprocess.run(command, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu_s() - cpu_before)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    rows = []
    for argv in COMMANDS:
        walls, cpus = time_command(argv, args.runs)
        rows.append(
            (
                "tracker-service " + " ".join(argv),
                f"{statistics.median(walls):.3f}",
                f"{min(walls):.3f}",
                f"{max(walls):.3f}",
                f"{statistics.median(cpus):.3f}",
            )
        )
    headers = ("command", "median wall s", "min wall s", "max wall s", "median CPU s")
    table = markdown_table(headers, rows)
    print(table)
    if not args.no_results:
        body = "\n".join(
            [
                "## CLI start-up (`cli_startup.py`)",
                "",
                f"Command: `{command_line('cli_startup.py', sys.argv[1:])}`; "
                f"{args.runs} runs each after a warm-up, wall-clock time of the whole process.",
                "",
                *machine_lines(),
                "",
                table,
            ]
        )
        write_section(RESULTS_FILE, SECTION, body)


if __name__ == "__main__":
    main()
