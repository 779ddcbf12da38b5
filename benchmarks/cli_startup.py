"""Start-up of the ``keras-classics`` command: wall time, stderr lines, whether TensorFlow was imported.

Each command is run as a fresh process (``python -m keras_classics.cli ...``), a
few times; the figure is the median wall time. A second source tree (``--before
DIR``, e.g. ``git archive <commit> | tar -x -C DIR``) is measured in the same run,
alternating with this checkout command by command, so both see the same machine
load.

    python benchmarks/cli_startup.py --json benchmarks/results/cli_startup.json
    python benchmarks/cli_startup.py --before /tmp/before --repeats 5 --json out.json
    python benchmarks/cli_startup.py --tiny       # one run of --help
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = (("--help",), ("train", "--help"), ("list",))
# Prints whether TensorFlow was imported, on a line of its own after the command's output.
PROBE = ("import sys\nfrom keras_classics.cli import main\ntry:\n    code = main(sys.argv[1:])\n"
         "except SystemExit as e:\n    code = e.code\nprint('KC_TF', 'tensorflow' in sys.modules)\nsys.exit(code)\n")


def run_once(tree: str, argv) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
    env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], env=env, cwd=tree, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {tree}:\n{proc.stderr}")
    tf = proc.stdout.rstrip().splitlines()[-1] == "KC_TF True"
    return {"seconds": seconds, "stderr_lines": len(proc.stderr.splitlines()), "tensorflow": tf}


def measure(trees: dict, commands, repeats: int) -> dict:
    runs = {label: {" ".join(c): [] for c in commands} for label in trees}
    for _ in range(repeats):
        for argv in commands:
            for label, tree in trees.items():  # alternate: both trees see the same load
                runs[label][" ".join(argv)].append(run_once(tree, argv))
    results = {}
    for label, by_command in runs.items():
        results[label] = {
            command: {
                "median_s": round(statistics.median(r["seconds"] for r in rs), 2),
                "min_s": round(min(r["seconds"] for r in rs), 2),
                "max_s": round(max(r["seconds"] for r in rs), 2),
                "stderr_lines": max(r["stderr_lines"] for r in rs),
                "imports_tensorflow": any(r["tensorflow"] for r in rs),
            }
            for command, rs in by_command.items()
        }
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", metavar="DIR", help="another source tree to measure in the same run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--tiny", action="store_true", help="one run of --help (smoke test)")
    p.add_argument("--json", metavar="PATH", help="write the results here (temporary file, then rename)")
    args = p.parse_args(argv)
    trees = {"after": HERE}
    if args.before:
        trees = {"before": os.path.abspath(args.before), **trees}
    commands = COMMANDS[:1] if args.tiny else COMMANDS
    results = measure(trees, commands, 1 if args.tiny else args.repeats)
    for label, by_command in results.items():
        for command, r in by_command.items():
            print(f"{label:<7} keras-classics {command:<13} {r['median_s']:6.2f} s (median; {r['min_s']}-{r['max_s']})"
                  f"  {r['stderr_lines']} stderr lines  TensorFlow imported: {r['imports_tensorflow']}")
    record = {
        "method": "fresh process per run (python -m keras_classics.cli), median wall time; trees alternated",
        "repeats": 1 if args.tiny else args.repeats,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    if args.json:
        # Imported after the measurements: the package sets TF_ENABLE_ONEDNN_OPTS, which the measured
        # processes would inherit.
        sys.path.insert(0, HERE)
        from keras_classics.io import write_json_atomic

        write_json_atomic(args.json, record)
    return record


if __name__ == "__main__":
    main()
