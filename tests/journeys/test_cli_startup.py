"""The command line starts fast and quietly: ``--help``, every ``COMMAND --help`` and ``list`` import no
TensorFlow, and a command that needs it shows none of TensorFlow's start-up lines unless asked to."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from keras_classics import _startup, cli
from keras_classics.data import generate_shapes
from tests.helpers import ROOT, run_cli_process

# C++ log lines (I0000 00:00:…  port.cc:153] …) and absl's banner: what TensorFlow prints on import.
TF_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+\] |WARNING: All log messages before absl)")


def clean_env(**extra):
    """The environment of a user's shell: no backend or log level chosen (the test process sets both)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
    return {**env, **extra}


def run_python(code, *args, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=clean_env(**env),
                          capture_output=True, text=True, timeout=600)


def test_help_and_every_command_help_import_no_tensorflow():
    result = run_python(
        """
        import contextlib, io, sys
        from keras_classics import cli
        commands = [c for a in cli.build_parser()._actions if a.choices and a.dest == "command" for c in a.choices]
        for argv in [["--help"], *([c, "--help"] for c in commands)]:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                try:
                    cli.main(argv)
                except SystemExit as e:
                    assert e.code == 0, (argv, e.code)
            assert "usage:" in out.getvalue(), argv
        print(sorted(commands))
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    commands, imported = result.stdout.strip().splitlines()
    for command in ("list", "summary", "train", "export", "predict", "experiment"):
        assert repr(command) in commands
    assert imported == "False False", "--help imported TensorFlow or Keras"
    assert result.stderr == ""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="Keras's numpy backend needs JAX (a dependency)")
def test_list_imports_no_tensorflow_and_prints_the_same_table(capsys):
    result = run_python(
        """
        import sys
        from keras_classics import cli
        code = cli.main(["list", "[agz]*", "--format", "csv"])
        print("tensorflow" in sys.modules, file=sys.stderr)
        sys.exit(code)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "False", result.stderr
    # The same table computed here, on Keras's TensorFlow backend (the test process's).
    assert cli.main(["list", "[agz]*", "--format", "csv"]) == 0  # alexnet, googlenet, zfnet
    assert result.stdout == capsys.readouterr().out
    assert result.stdout.count("\n") == 4


@pytest.mark.slow  # two command-line processes that start TensorFlow
def test_a_tensorflow_command_is_quiet_and_verbose_brings_the_lines_back(tmp_path):
    raw = run_python("import tensorflow")
    default = run_cli_process("summary", "convnet4", env=clean_env())
    verbose = run_cli_process("--verbose", "summary", "convnet4", env=clean_env())
    assert default.returncode == verbose.returncode == 0, default.stderr + verbose.stderr
    assert default.stdout == verbose.stdout and "conv" in default.stdout
    assert default.stderr == "", default.stderr  # no start-up line, no CUDA probe error
    # --verbose shows what TensorFlow prints by itself (messages compared without their time stamps).
    def messages(text):
        return sorted(line.split("] ", 1)[-1] for line in text.splitlines() if TF_LINE.match(line))

    assert messages(verbose.stderr) == messages(raw.stderr)


def test_the_start_up_filter_keeps_what_is_not_tensorflow_log():
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795975386.145980    6927 port.cc:153] oneDNN custom operations are on.\n"
        "I0000 00:00:1795975386.203682    6927 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
        "W0000 00:00:1795975386.3    6927 some.cc:1] a warning\n"
        "/x/y.py:3: UserWarning: something of Python's own\n"
    )
    assert _startup._filter(text, 3) == "/x/y.py:3: UserWarning: something of Python's own\n"
    assert _startup._filter(text, 1).splitlines() == [
        "W0000 00:00:1795975386.3    6927 some.cc:1] a warning", "/x/y.py:3: UserWarning: something of Python's own"]
    assert _startup._filter(text, 0) == text


def test_verbose_is_a_top_level_option_and_train_keeps_its_own():
    args = cli.build_parser().parse_args(["--verbose", "train", "--verbose", "2"])
    assert args.tensorflow_log is True and args.verbose == 2


# ---------------------------------------------------------------------- logs that are not a terminal
def export_cli(tmp_path, *args):
    return run_cli_process("export", *args, env=clean_env(), cwd=tmp_path)


# TensorFlow Lite's own lines: the int8 quantizer's settings and LiteRT's delegate note.
LITE_LINES = ("fully_quantize", "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory):
    """A tiny full-integer export through the command line, as a user runs it: ``(directory, result)``."""
    import keras_classics

    tmp_path = tmp_path_factory.mktemp("int8")
    keras_classics.convnet4(classes=3).save(tmp_path / "c4.keras")
    result = export_cli(tmp_path, tmp_path / "c4.keras", "--format", "tflite", "--quantize", "int8",
                        "--representative", "shapes", "--representative-samples", 12, "--parity-samples", 8,
                        "-o", tmp_path / "c4.tflite")
    assert result.returncode == 0, result.stderr
    return tmp_path, result


def test_int8_calibration_logs_one_line_when_stdout_is_not_a_terminal(int8_export):
    _, result = int8_export
    progress = [line for line in result.stdout.splitlines() if re.search(r"\b\d+/12\b", line)]
    assert len(progress) == 1 and progress[0].startswith("12/12"), result.stdout
    assert "\r" not in result.stdout and "\x1b[" not in result.stdout


@pytest.mark.slow  # three command-line processes (export, int8 conversion, predict)
def test_tflite_export_and_predict_are_quiet_and_verbose_brings_the_lines_back(int8_export):
    tmp_path, result = int8_export
    assert result.stderr == "", result.stderr  # no converter or interpreter line
    assert "Parity passed on 8 images" in result.stdout
    verbose = run_cli_process("--verbose", "export", "c4.keras", "--format", "tflite", "--quantize", "int8",
                              "--representative", "shapes", "--representative-samples", "4", "--parity-samples", "4",
                              "-o", "verbose.tflite", env=clean_env(), cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    for line in LITE_LINES:
        assert line in verbose.stderr, verbose.stderr
    Image.fromarray(generate_shapes(1, 32, split="validation")[0][0]).save(tmp_path / "shape.png")
    predict = run_cli_process("predict", "c4.tflite", "shape.png", env=clean_env(), cwd=tmp_path)
    assert predict.returncode == 0 and predict.stdout.startswith("shape.png"), predict.stderr
    assert predict.stderr == "", predict.stderr  # the interpreter's delegate line held back here too


def test_held_native_lines_are_filtered_and_shown_in_full_when_the_call_fails():
    result = run_python(
        """
        import os, sys
        from keras_classics import _startup

        def call(fail):
            with _startup.quiet_native_log():
                os.write(2, b"fully_quantize: 0, inference_type: 6\\n")
                os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
                os.write(2, b"WARNING: a warning\\n")
                if fail:
                    os.write(2, b"ERROR: the converter's explanation\\n")
                    raise RuntimeError("conversion failed")

        call(False)                      # nothing held back: quiet_tensorflow was not called
        print("--", file=sys.stderr, flush=True)
        _startup._native_level = 2       # as after quiet_tensorflow() with TF_CPP_MIN_LOG_LEVEL=2
        call(False)
        print("--", file=sys.stderr, flush=True)
        try:
            call(True)
        except RuntimeError:
            pass
        """
    )
    assert result.returncode == 0, result.stderr
    plain, held, failed = result.stderr.split("--\n")
    assert plain.splitlines() == ["fully_quantize: 0, inference_type: 6",
                                  "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", "WARNING: a warning"]
    assert held == ""
    assert failed.splitlines() == [*plain.splitlines(), "ERROR: the converter's explanation"]


@pytest.mark.slow  # AlexNet to a SavedModel with 40 parity images, in a new process
def test_alexnet_export_prints_no_retracing_warning(tmp_path):
    import keras_classics

    # AlexNet's grouped convolutions: Keras runs each eager call through a new XLA function.
    keras_classics.alexnet(classes=3, input_shape=(67, 67, 3)).save(tmp_path / "alexnet.keras")
    result = export_cli(tmp_path, tmp_path / "alexnet.keras", "--parity-samples", 40, "-o", tmp_path / "sm")
    assert result.returncode == 0, result.stderr
    assert "retracing" not in result.stdout + result.stderr, result.stderr
    assert "Parity passed on 40 images" in result.stdout
    assert result.stderr == "", result.stderr


def test_the_start_up_benchmark_smoke_run(tmp_path):
    out = tmp_path / "cli.json"
    result = subprocess.run([sys.executable, "benchmarks/cli_startup.py", "--tiny", "--json", str(out)],
                            cwd=ROOT, env=clean_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    row = record["results"]["after"]["--help"]
    assert row["median_s"] > 0 and row["stderr_lines"] == 0 and row["imports_tensorflow"] is False


# ---------------------------------------------------------------------- the recipe scripts
RECIPE_SCRIPTS = sorted((ROOT / "recipes").glob("*.py"))


def test_every_recipe_script_quiets_tensorflow_before_importing_the_package():
    """Loading a recipe reads the registry, which imports the models, Keras and TensorFlow: a script quiets
    TensorFlow's start-up lines first, as the command line does (the behaviour: the slow test below)."""
    import ast

    assert len(RECIPE_SCRIPTS) >= 12
    for path in RECIPE_SCRIPTS:
        tree = ast.parse(path.read_text())
        main = next(node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
        nodes = [n for n in ast.walk(main) if isinstance(n, (ast.Call, ast.ImportFrom, ast.Import))]
        order = [ast.unparse(n) for n in sorted(nodes, key=lambda n: (n.lineno, n.col_offset))]
        assert order[0] == "quiet_tensorflow()", (path.name, order)
        imported = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert imported == ["from keras_classics._startup import quiet_tensorflow"], (path.name, imported)


@pytest.mark.slow  # two recipe scripts as programs, each starting TensorFlow (one trains a few steps)
def test_a_recipe_script_is_as_quiet_as_the_command_line(tmp_path):
    def script(name, *args):
        return subprocess.run([sys.executable, str(ROOT / "recipes" / f"{name}.py"), *map(str, args)],
                              env=clean_env(KERAS_CLASSICS_CACHE=str(tmp_path / "cache")), cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)

    printed = script("resnet50_imagenet", "--print-config")  # the registry is read before anything trains
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["model"] == "resnet50"
    trained = script("quickstart", "--model", "convnet4", "--model-kwargs", "{}", "--epochs", 1, "--batch-size", 8,
                     "--dataset-options", '{"num_train": 16, "num_val": 8}', "--verbose", 0, "--run-dir", tmp_path / "run")
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "final.keras").is_file()
    for result in (printed, trained):
        assert not [line for line in result.stderr.splitlines() if TF_LINE.match(line) or "cuInit" in line], \
            result.stderr
        assert result.stderr == "", result.stderr
