"""The documentation is tested: every command and snippet in README.md and docs/*.md.

* Every documented ``keras-classics`` command and recipe script line is parsed with the real
  parsers, so that no documented flag can disappear; recipe lines print their configuration.
* The cheap commands run (with the tiny sizes of ``TINY``, declared once here), the export flow of
  docs/export.md and the README end to end; every Python snippet runs (at ``TINY`` sizes, those
  that use the export flow's files after it, in its directory; the long ones of ``SLOW`` marked
  slow), except the excerpts of source files and the snippets of ``NOT_RUN``, each with its
  reason; every name that any snippet imports from the package must exist.
* Figures the docs quote are read from the results files they come from (``QUOTED``, and
  docs/export.md's example run in docs/results/export_example.json), or computed by the tool
  itself (the course's claims, the inspector's tables).

Commands that need ImageNet, TFDS downloads, a GPU or several machines are parsed only.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import math
import os
import re
import shlex
from pathlib import Path

import pytest

from keras_classics import cli
from keras_classics.training import load_recipe, run_recipe
from tests.helpers import ROOT, run_cli

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Tiny sizes for what runs here. A command: keyed by its start, the arguments appended to it. A Python
# snippet: keyed by a piece of its documented text, what replaces that piece here.
TINY = {
    "python recipes/quickstart.py": ["--dataset-options", '{"num_train": 64, "num_val": 32}', "--epochs", "1",
                                     "--batch-size", "16", "--steps-per-epoch", "2"],
    "keras-classics export": ["--representative-samples", "8", "--parity-samples", "8"],
    'get_source("shapes", image_size=64)': 'get_source("shapes", image_size=64, num_train=128, num_val=64)',
    "image_size=32, epochs=2)": 'image_size=32, epochs=2, dataset_options={"num_train": 64, "num_val": 32}, '
                                "batch_size=16, steps_per_epoch=2)",
    '"saved_models/shapes_resnet18_py")': '"saved_models/shapes_resnet18_py", parity_samples=8)',
    'quantize="int8", representative="shapes")': 'quantize="int8", representative="shapes", '
                                                 "representative_samples=8, parity_samples=8)",
    "quantize=quantize, overwrite=True)": "quantize=quantize, overwrite=True, parity_samples=8)",
}
# Python snippets that do not run here, keyed by a piece of their text, with the reason (their imports are checked).
NOT_RUN = {
    'get_source("tfds:': "TFDS datasets: CIFAR-10 is a download, ImageNet is prepared by hand",
    'weights="imagenet"': "ImageNet weights are a download (keras.applications)",
    'weights="torchvision': "torchvision's ImageNet weights are a download (the README's section runs offline on "
                            "seeded files in tests/weights/test_pretrained.py)",
    'weights="hf://timm/resnet50.tv_in1k"': "a Hub download (run offline from a test-built cache by "
                                            "tests/evaluate/test_applications.py)",
    'weights="resnet18_backbone.weights.h5"': "reads the file that `keras-classics weights convert` writes from "
                                              "torchvision's download (also run by tests/weights/test_pretrained.py)",
}
# Python snippets that run but take long, keyed the same way, with the reason: marked slow.
SLOW = {
    "model = resnet152(classes=10, input_shape=(224, 224, 3))": "builds ResNet-152, GoogLeNet and Inception v3 at full "
                                                                "size (random initial values for ~100 M weights)",
    "wide = zfnet(wide=True)": "builds AlexNet and ZFNet at full size (random initial values for ~230 M weights)",
    "bn = inception_v2(include_top=False": "builds GoogLeNet at full size, twice",
    'v15 = resnet50(stride_in="3x3")': "builds two ResNet-50s and Inception v3 at full size",
    "inception_v3(classes=5, aux_logits=True)": "a training step of Inception v3 at 299x299, its smallest input "
                                                "with the auxiliary head (about 40 s on 2 cores)",
}
# Snippets that use the files of docs/export.md's flow: they run after it, in its directory.
FLOW_FILES = ("runs/quickstart", "saved_models/", "shape.png")
# Placeholders in the docs, and what they stand for here.
PLACEHOLDERS = {"runs/quickstart-TIMESTAMP": "runs/quickstart"}


# ---------------------------------------------------------------------- extraction
def blocks(path):
    """``(language, text)`` of each fenced code block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def command_lines(text):
    """The commands of a shell block: continuations joined, comments and prompts dropped."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        out.append(line)
    return out


def split(line):
    """The words of a command line, without a trailing comment."""
    return shlex.split(line, comments=True)


def documented(prefix):
    """``(file, words)`` of every documented command line starting with ``prefix`` (after ``exec`` and
    environment assignments such as ``TF_CONFIG=...``)."""
    found = []
    for path in DOCS:
        for lang, text in blocks(path):
            if lang not in ("", "bash", "sh"):
                continue
            for line in command_lines(text):
                try:
                    words = split(line)
                except ValueError:  # not a shell line (an output block)
                    continue
                while words and (words[0] == "exec" or re.match(r"^[A-Z_][A-Z0-9_]*=", words[0])):
                    words = words[1:]
                if words and words[-1] == "&":  # started in the background
                    words = words[:-1]
                if len(words) > 1 and words[1].endswith(":"):
                    continue  # a message the command printed (`keras-classics export: error: ...`)
                if " ".join(words).startswith(prefix):
                    found.append((path.name, words))
    return found


def python_snippets():
    return [(path.name, text) for path in DOCS for lang, text in blocks(path) if lang == "python"]


def is_excerpt(text):
    """An excerpt of a source file shown in a page (``def ...``, ``...`` for the lines left out), not a program."""
    return text.lstrip().startswith(("def ", "_", "(")) or "    ..." in text


def snippet_ids():
    """``(id, text)`` of every documented snippet: the page and its snippet's number there."""
    counts, out = {}, []
    for name, text in python_snippets():
        counts[name] = counts.get(name, 0) + 1
        out.append((f"{name}:{counts[name]}", text))
    return out


def tiny(text):
    """A snippet with TINY's replacements made."""
    for piece, replacement in TINY.items():
        if isinstance(replacement, str):
            text = text.replace(piece, replacement)
    return text


def reason_not_run(text):
    if is_excerpt(text):
        return "an excerpt of a source file"
    return next((why for piece, why in NOT_RUN.items() if piece in text), None)


def uses_the_flow(text):
    return any(f in text for f in FLOW_FILES)


def run_snippet(label, text):
    """Run a snippet (TINY sizes) in this process, in the current directory; return what it printed."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(tiny(text), label, "exec"), {"__name__": "__main__"})
    return out.getvalue()


# ---------------------------------------------------------------------- every command parses
def test_the_docs_have_commands_and_snippets():
    assert len(documented("keras-classics ")) >= 25
    assert len(documented("python recipes/")) >= 8
    assert len(python_snippets()) >= 15


def test_every_documented_keras_classics_command_parses():
    parser = cli.build_parser()
    for name, words in documented("keras-classics "):
        with contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                parser.parse_args(words[1:])
            except SystemExit as e:
                pytest.fail(f"{name}: `{' '.join(words)}` no longer parses ({e.code}): {err.getvalue()}")


def test_every_documented_recipe_script_line_prints_its_configuration(capsys):
    seen = set()
    for name, words in documented("python recipes/"):
        recipe = Path(words[1]).stem
        assert (ROOT / "recipes" / f"{recipe}.py").is_file(), f"{name}: {words[1]} does not exist"
        args = words[2:]
        if "--resume" in args:  # the run does not exist here: the options are checked without it
            i = args.index("--resume")
            args = args[:i] + args[i + 2:]
        seen.add(recipe)
        try:
            run_recipe(load_recipe(recipe), [*args, "--print-config"])
        except SystemExit as e:
            pytest.fail(f"{name}: `{' '.join(words)}` is refused ({e.code}): {capsys.readouterr().err}")
        config = json.loads(capsys.readouterr().out)
        assert config["name"], name
    assert "quickstart" in seen


def test_every_documented_script_flag_exists_in_the_script():
    lines = documented("python benchmarks/") + documented("python docs/")
    assert lines
    for name, words in lines:
        source = (ROOT / words[1]).read_text(encoding="utf-8")
        for word in words[2:]:
            if word.startswith("--"):
                flag = word.split("=", 1)[0]
                assert f'"{flag}"' in source, f"{name}: {words[1]} has no option {flag}"


def test_every_name_a_snippet_imports_from_the_package_exists():
    for name, text in python_snippets():
        if is_excerpt(text):
            continue
        tree = ast.parse(text)  # every snippet is valid Python
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras_classics"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(
                        f"{node.module}.{alias.name}"), f"{name}: {node.module} has no {alias.name}"


# ---------------------------------------------------------------------- cheap ones run
def shown_lines(path, start):
    """The lines of the first plain block of ``path`` whose first line starts with ``start``."""
    for lang, text in blocks(path):
        if text.startswith(start):
            return [line for line in text.splitlines() if line.strip()]
    raise AssertionError(f"{path.name}: no block starting with {start!r}")


def squash(line):
    return " ".join(line.split())


def test_documented_inspector_output_is_what_the_tool_prints(capsys):
    def printed(*args):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, (args, err)
        return out

    inspect_md = ROOT / "docs" / "inspect.md"
    lines = {squash(line) for line in printed("compare", "--inception-module", "3a").splitlines()}
    for line in shown_lines(inspect_md, "Inception 3a: naive"):
        assert squash(line) in lines, line
    lines = {squash(line) for line in printed("compare", "alexnet", "googlenet", "vgg16", "resnet152").splitlines()}
    for line in shown_lines(inspect_md, "model           params"):
        assert squash(line) in lines, line
    lines = {squash(line) for line in printed("summary", "alexnet").splitlines()}
    for line in shown_lines(inspect_md, "conv5 "):
        assert squash(line) in lines, line
    for command in (["train", "--list"], ["experiment", "--list"], ["train", "vgg16_cifar10", "--print-config"]):
        assert printed(*command).strip()


def test_the_course_claims_quoted_are_what_the_inspector_computes():
    from keras_classics import inspect

    def fc_share(name):
        s = inspect.summary(name)
        dense = sum(r["trainable_params"] for r in s if r["kind"] == "Dense")
        return f"{100 * dense / s.totals['trainable_params']:.1f}%"

    claim = f"{fc_share('alexnet')} of AlexNet's and {fc_share('vgg16')} of VGG16's parameters"
    assert claim in squash((ROOT / "README.md").read_text()), claim
    inspect_text = squash((ROOT / "docs" / "inspect.md").read_text())
    assert f"{fc_share('alexnet')} of AlexNet's" in inspect_text and f"{fc_share('vgg16')} of VGG16's" in inspect_text


def test_every_tiny_size_and_reason_names_a_documented_snippet():
    texts = [text for _, text in python_snippets()]
    pieces = [p for p, r in TINY.items() if isinstance(r, str)] + list(NOT_RUN) + list(SLOW)
    stale = [p for p in pieces if not any(p in t for t in texts)]
    assert not stale, f"in no documented snippet any more: {stale}"
    assert len(snippet_params()) >= 15


def snippet_params():
    params = []
    for label, text in snippet_ids():
        if reason_not_run(text) or uses_the_flow(text):
            continue  # not run here, or run by the export flow's test
        slow = [why for piece, why in SLOW.items() if piece in text]
        params.append(pytest.param(label, text, id=label, marks=[pytest.mark.slow] if slow else []))
    return params


@pytest.mark.parametrize("label, text", snippet_params())
def test_python_snippet_runs(label, text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a snippet that writes (a training run) writes here
    monkeypatch.setenv("KERAS_CLASSICS_CACHE", str(tmp_path / "cache"))
    run_snippet(label, text)


def run_line(line):
    """Run one documented command line in this process (as the shell would run it, without the start-up
    cost of a new process each time); return what it printed."""
    words = split(line)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        if words[0] == "keras-classics":
            assert cli.main(words[1:]) == 0, line
        elif words[:2] == ["python", "-c"]:
            exec(compile(words[2], "<-c>", "exec"), {"__name__": "__main__"})
        elif words[0] == "python" and words[1].startswith("recipes/"):
            run_recipe(load_recipe(Path(words[1]).stem), words[2:])
        else:
            raise AssertionError(f"no runner for {line!r}")
    return out.getvalue()


@pytest.mark.slow  # a training run and six exports, about two minutes of CPU
def test_the_export_flow_of_the_docs_runs_end_to_end(tmp_path, monkeypatch):
    """docs/export.md's block, then the README's, as written, with TINY sizes, in a fresh directory; then
    the Python snippets that use their files, in page order."""
    lines = [*command_lines(next(t for lang, t in blocks(ROOT / "docs" / "export.md") if "recipes/quickstart.py" in t))]
    lines += [line for lang, t in blocks(ROOT / "README.md") if "keras-classics predict" in t
              for line in command_lines(t)]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_CLASSICS_CACHE", str(tmp_path / "cache"))
    outputs = []
    for line in lines:
        for placeholder, value in PLACEHOLDERS.items():
            line = line.replace(placeholder, value)
        for start, extra in TINY.items():
            if isinstance(extra, list) and line.startswith(start):
                line = " ".join([line, *map(shlex.quote, extra)])
        outputs.append(run_line(line))
    ran = []
    for label, text in snippet_ids():
        if uses_the_flow(text) and not reason_not_run(text):
            run_snippet(label, text)
            ran.append(label)
    assert len(ran) >= 3, ran  # docs/export.md: exports in Python, the bytes signature, deploy.keras
    assert (tmp_path / "shape.png").is_file() and (tmp_path / "saved_models" / "shapes_int8.tflite").is_file()
    # The predict output has the documented shape: the file, then ranked classes with percentages.
    shown = shown_lines(ROOT / "docs" / "export.md", "$ keras-classics predict")[1:]
    printed = next(o for o in outputs if o.startswith("shape.png")).splitlines()
    assert len(printed) == len(shown) and printed[0] == shown[0]
    for got, want in zip(printed[1:], shown[1:]):  # the figures differ: the docs quote a full-size run
        assert re.fullmatch(r"\s*\d\. \w+\s+\d+\.\d\d%", got) and re.fullmatch(r"\s*\d\. \w+\s+\d+\.\d\d%", want), (got, want)


# ---------------------------------------------------------------------- figures from results files
def json_numbers(paths):
    numbers = []

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            numbers.append(float(value))

    for path in paths:
        walk(json.loads(path.read_text()))
    return numbers


def quoted_in(figure: str, numbers, scales=(1, 100, 2.0 ** -20)) -> bool:
    """Whether ``figure`` (as printed: ``1.069``, ``98.3``) is a value of ``numbers`` (or a percentage of one,
    or bytes in MiB) rounded to the figure's decimals."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    value = float(figure)
    return any(abs(round(n * s, decimals) - value) < 1e-9 for n in numbers for s in scales)


# (document, a line that starts the quoted table or paragraph, the results files it comes from, and for a
# table the columns checked: docs/export.md's oneDNN-off columns come from an earlier run with no results file)
QUOTED = [
    ("docs/benchmarks_models.md", "| model | build s (ours / k.a.)", "benchmarks/results/models_cpu_*_r7.json", None),
    ("docs/export.md", "| format | MiB | size × Keras", "benchmarks/results/export_resnet50_224.json", slice(1, 5)),
    ("docs/inspect.md", "## Command line", "benchmarks/results/cli_startup*.json", None),
]


def quoted_figures(document, start, columns=None):
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(start))
    end = next((j for j in range(i + 1, len(lines)) if not lines[j].strip() or lines[j].startswith("```")), len(lines))
    if start.startswith("## "):  # a section: to the next heading
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("#")), len(lines))
    chosen = lines[i + 1 if start.startswith("$") else i:end]
    if columns is not None:
        chosen = [" ".join(line.strip("|").split("|")[columns]) for line in chosen]
    text = "\n".join(chosen)
    text = re.sub(r"`[^`]*`", "", text)  # commands and names, not figures
    return re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", text)


@pytest.mark.parametrize("document, start, results, columns", QUOTED, ids=[f"{d}:{s[:20]}" for d, s, *_ in QUOTED])
def test_quoted_figures_come_from_results_files(document, start, results, columns):
    paths = sorted(ROOT.glob(results))
    assert paths, f"no results file {results}"
    numbers = json_numbers(paths)
    figures = quoted_figures(document, start, columns)
    assert figures, f"{document}: no figures after {start!r}"
    missing = [f for f in figures if not quoted_in(f, numbers)]
    assert not missing, f"{document}: {missing} are in no value of {results}"


EXAMPLE = ROOT / "docs" / "results" / "export_example.json"


def test_the_export_page_quotes_its_example_run():
    """docs/export.md's predict output, its model card and the figures around them are those of its example
    run (docs/export_example.py: the page's first block as written, at full size)."""
    page = ROOT / "docs" / "export.md"
    record = json.loads(EXAMPLE.read_text())
    flow = command_lines(next(t for lang, t in blocks(page) if "recipes/quickstart.py" in t))
    assert [step["command"] for step in record["steps"]] == flow, \
        "docs/export.md's block is not the one of its example run: run docs/export_example.py again"
    printed = {step["command"]: step["stdout"] for step in record["steps"]}
    shown = shown_lines(page, "$ keras-classics predict")
    assert shown[1:] == printed[shown[0][2:]].splitlines(), "the predict output shown is not the example run's"
    numbers = json_numbers([EXAMPLE]) + [float(n) for n in re.findall(r"\d+(?:\.\d+)?", "".join(printed.values()))]
    card = re.sub(r'"[^"]*"', '""', "\n".join(shown_lines(page, '{\n  "format": ')))  # numbers, not names
    figures = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", card)
    for start in ("Each line is a class and its probability", "On the trained quickstart model of the example run"):
        figures += quoted_figures("docs/export.md", start)
    assert len(figures) >= 20
    missing = [f for f in figures if not quoted_in(f, numbers)]
    assert not missing, f"docs/export.md: {missing} are in no value of {EXAMPLE.relative_to(ROOT)}"
