"""Names near and over the file system's limit: a long name that fits is written, one that does not is refused
before anything is written, and nothing (no temporary file) is left behind either way."""

import os

import pytest

from keras_classics import io
from keras_classics.io import atomic_path, write_text_atomic
from tests.helpers import run_cli

NAME_MAX = os.pathconf("/tmp", "PC_NAME_MAX") if hasattr(os, "pathconf") else 255


def test_a_name_that_fits_is_written_however_long(tmp_path):
    """The temporary name beside it is shortened to fit: a name of NAME_MAX bytes is written as any other."""
    for length in (NAME_MAX - 30, NAME_MAX):
        path = tmp_path / ("n" * (length - 4) + ".txt")
        write_text_atomic(path, "kept")
        assert path.read_text() == "kept"
        assert os.listdir(tmp_path) == [path.name]
        path.unlink()


def test_a_name_over_the_limit_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / ("x" * (NAME_MAX + 1) + ".txt")
    with pytest.raises(ValueError, match=rf"is {NAME_MAX + 5} bytes long; this file system takes names of at most "
                                         rf"{NAME_MAX} bytes\. Accepted: a shorter name\. Nothing was written\."):
        write_text_atomic(path, "lost")
    with pytest.raises(ValueError, match="in the path is"):
        io.check_name_length(tmp_path / ("d" * (NAME_MAX + 1)) / "file.txt")
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / ("y" * (NAME_MAX - 4) + ".bin")) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("the writer failed midway")
    assert os.listdir(tmp_path) == []


def test_a_command_refuses_a_too_long_output_name_in_one_line(tmp_path, capsys):
    output = tmp_path / ("f" * NAME_MAX + ".png")
    code, out, err = run_cli(capsys, "visualize", "filters", "alexnet", "-o", output)
    assert code == 2 and out == "" and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert f"is {NAME_MAX + 4} bytes long" in line and "Nothing was written" in line
    assert os.listdir(tmp_path) == []
