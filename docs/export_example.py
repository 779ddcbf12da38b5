"""Run the export flow of docs/export.md as written and store what it printed.

    python docs/export_example.py --workdir /tmp/export_example     # about ten minutes on two CPU cores

The page's first shell block (the quickstart recipe, the SavedModel and int8 exports, a shape
drawn to ``shape.png`` and two predictions) runs line by line, at its documented sizes, in
``--workdir`` (created empty; ``recipes/`` there links to this checkout's), each line by the
shell with this Python first on ``PATH``. What each line printed (progress bars reduced to each
epoch's closing line) and how long it took, the model cards of the exports, the run's final metrics and the versions go to
``docs/results/export_example.json`` (``--json``): the predict output and the figures that
docs/export.md quotes are read from there (tests/journeys/test_docs.py holds the page to that file).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PAGE = os.path.join(HERE, "export.md")


def documented_flow() -> list[str]:
    """The command lines of docs/export.md's first shell block that runs the quickstart recipe."""
    with open(PAGE, encoding="utf-8") as f:
        text = f.read()
    for lang, block in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if lang == "bash" and "recipes/quickstart.py" in block:
            return [line.strip() for line in block.replace("\\\n", " ").splitlines()
                    if line.strip() and not line.strip().startswith("#")]
    raise SystemExit(f"{PAGE}: no bash block runs recipes/quickstart.py")


def printed(text: str) -> str:
    """What a command printed, as a log keeps it: colours removed, and of Keras's progress bar (redrawn
    with backspaces when the output is not a terminal) only each epoch's closing line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [re.split(r"[\x08\r]+", line.rstrip("\x08\r"))[-1] for line in text.split("\n")]
    return "\n".join(line for line in lines if "━" not in line or "val_" in line)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return platform.processor()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="a directory to create and run the commands in")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "export_example.json"),
                        help="results file (default: docs/results/export_example.json)")
    args = parser.parse_args(argv)

    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir)  # refuses an existing one: the flow's outputs must be this run's
    os.symlink(os.path.join(ROOT, "recipes"), os.path.join(workdir, "recipes"))
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}

    steps = []
    for line in documented_flow():
        print(f"$ {line}", flush=True)
        start = time.perf_counter()
        result = subprocess.run(line, shell=True, cwd=workdir, env=env, capture_output=True, text=True)
        seconds = round(time.perf_counter() - start, 1)
        sys.stdout.write(result.stdout)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            raise SystemExit(f"`{line}` failed with exit status {result.returncode}; nothing was written")
        steps.append({"command": line, "stdout": printed(result.stdout), "seconds": seconds})

    def read(name):
        with open(os.path.join(workdir, name), encoding="utf-8") as f:
            return json.load(f)

    cards, metrics = {}, None
    for step in steps:
        words = shlex.split(step["command"])
        if words[:2] == ["keras-classics", "export"]:  # the card of each export (`-o` is in each line)
            output = words[words.index("-o") + 1]
            card = output[: -len(".tflite")] + ".card.json" if output.endswith(".tflite") else \
                os.path.join(output, "model_card.json")
            cards[card] = read(card)
        elif "--run-dir" in words:  # the training run's final metrics
            metrics = read(os.path.join(words[words.index("--run-dir") + 1], "metrics.json"))

    from keras_classics.io import write_json_atomic

    record = {
        "source": "docs/export.md, the shell block that starts with recipes/quickstart.py",
        "script": "docs/export_example.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {name: importlib.metadata.version(name) for name in ("keras-classics", "keras", "tensorflow",
                                                                        "ai-edge-litert")},
        "steps": steps,
        "run_metrics": metrics,
        "cards": cards,
    }
    write_json_atomic(args.json, record)
    print(f"wrote {os.path.relpath(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
