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

from keras_classics import _startup, cli

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


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="Keras's numpy backend needs JAX (dev extra)")
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


def test_a_tensorflow_command_is_quiet_and_verbose_brings_the_lines_back(tmp_path):
    raw = run_python("import tensorflow")
    default = subprocess.run([sys.executable, "-m", "keras_classics.cli", "summary", "convnet4"],
                             env=clean_env(), capture_output=True, text=True, timeout=600)
    verbose = subprocess.run([sys.executable, "-m", "keras_classics.cli", "--verbose", "summary", "convnet4"],
                             env=clean_env(), capture_output=True, text=True, timeout=600)
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
    return subprocess.run([sys.executable, "-m", "keras_classics.cli", "export", *map(str, args)], env=clean_env(),
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)


def test_int8_calibration_logs_one_line_when_stdout_is_not_a_terminal(tmp_path):
    import keras_classics

    keras_classics.convnet4(classes=3).save(tmp_path / "c4.keras")
    result = export_cli(tmp_path, tmp_path / "c4.keras", "--format", "tflite", "--quantize", "int8",
                        "--representative", "shapes", "--representative-samples", 12, "--parity-samples", 8,
                        "-o", tmp_path / "c4.tflite")
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stdout.splitlines() if re.search(r"\b\d+/12\b", line)]
    assert len(progress) == 1 and progress[0].startswith("12/12"), result.stdout
    assert "\r" not in result.stdout and "\x1b[" not in result.stdout


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
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=clean_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    row = record["results"]["after"]["--help"]
    assert row["median_s"] > 0 and row["stderr_lines"] == 0 and row["imports_tensorflow"] is False
