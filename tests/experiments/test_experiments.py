"""``keras-classics experiment`` and :mod:`keras_classics.experiments`: every experiment's
``--quick`` run writes its figure and a ``results.json`` that agrees with the printed
table; bad input is refused before anything is written."""

import json
import os

import pytest

from keras_classics import cli
from keras_classics.experiments import EXPERIMENTS, render_table, run_experiment
from tests.helpers import image_folder

NAMES = ["relu-vs-tanh", "dropout", "augmentation", "plain-vs-residual", "aux-classifiers", "shallow-first",
         "sharing"]
PNG = b"\x89PNG\r\n\x1a\n"


def _check_run(run_dir, printed, *, seeds):
    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    for field in ("experiment", "claim", "paper", "quick", "repeats", "seeds", "dataset", "settings", "measures",
                  "rows", "arms", "wall_time_s"):
        assert field in results, field
    assert results["quick"] is True and results["seeds"] == seeds and results["repeats"] == len(seeds)
    assert results["rows"] and all(set(r) >= {"claim", "measured", "held"} and r["held"] in (True, False, None)
                                   for r in results["rows"])
    for arm, runs in results["arms"].items():
        assert [r["seed"] for r in runs] == seeds, arm
        for r in runs:
            epochs = len(r["history"]["train_top1"])
            assert epochs >= 1 and len(r["history"]["val_top1"]) == epochs
            sub = os.path.join(run_dir, r["run_dir"])
            assert os.path.isfile(os.path.join(sub, "config.json")) and os.path.isfile(os.path.join(sub, "history.csv"))
            with open(os.path.join(sub, "config.json"), encoding="utf-8") as f:
                config = json.load(f)
            assert config["seed"] == r["seed"] and config["model"] == r["model"]  # trained by the engine
    with open(os.path.join(run_dir, "figure.png"), "rb") as f:
        assert f.read(8) == PNG
    table = render_table(results)
    assert table in printed  # the printed table is the one results.json gives
    with open(os.path.join(run_dir, "table.txt"), encoding="utf-8") as f:
        assert f.read() == table
    held = {True: "yes", False: "no", None: "undecided"}
    for row in results["rows"]:
        assert held[row["held"]] in table
    return results


def test_list_shows_the_seven(capsys):
    assert cli.main(["experiment", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == NAMES == list(EXPERIMENTS)


# Each trains every arm of its experiment: slow. The sharing experiment, through the command line below,
# runs the same machinery daily.
@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NAMES if n != "sharing"])
def test_quick_run(name, tmp_path, capsys):
    run_dir = tmp_path / "exp"
    result = run_experiment(name, quick=True, run_dir=run_dir)
    results = _check_run(str(run_dir), capsys.readouterr().out, seeds=[0])
    assert result.results == results
    if name == "relu-vs-tanh":
        for run in results["arms"]["relu"] + results["arms"]["tanh"]:
            steps = run["steps_per_epoch"] * len(run["history"]["train_top1"])
            assert len(run["batch_train_error"]) == steps
            # The per-batch errors average back to the epoch's logged training error.
            per_epoch = run["batch_train_error"][-run["steps_per_epoch"]:]
            assert abs(sum(per_epoch) / len(per_epoch) - (1 - run["history"]["train_top1"][-1])) < 1e-4
    if name == "aux-classifiers":
        for run in results["arms"]["aux"] + results["arms"]["no_aux"]:
            assert len(run["grad_norm_total"]) == len(run["history"]["train_top1"]) + 1
        no_aux = results["arms"]["no_aux"][0]
        assert no_aux["grad_norm_total"] == no_aux["grad_norm_main"]  # one loss without heads
    if name == "shallow-first":
        warm = results["arms"]["vgg16_from_vgg11"][0]
        with open(os.path.join(run_dir, warm["run_dir"], "config.json"), encoding="utf-8") as f:
            assert json.load(f)["init_from"].endswith("vgg11-seed0")
    if name == "plain-vs-residual":
        params = {arm: runs[0]["num_params"] for arm, runs in results["arms"].items()}
        assert params["plain20"] == params["resnet20"] and params["plain56"] == params["resnet56"]


def test_sharing_from_the_command_line_with_repeats(tmp_path, capsys):
    run_dir = tmp_path / "sharing"
    assert cli.main(["experiment", "sharing", "--quick", "--repeats", "2", "--seed", "3",
                     "--run-dir", str(run_dir)]) == 0
    results = _check_run(str(run_dir), capsys.readouterr().out, seeds=[3, 4])
    layer = results["measures"]["layer"]
    # 16x16x3 -> 16x16x32 with 5x5 kernels: computed, not trained.
    assert layer["conv"]["params"] == 5 * 5 * 3 * 32 + 32
    assert layer["dense"]["params"] == 768 * 8192 + 8192
    assert layer["locally_connected"]["params"] == 256 * layer["conv"]["params"]
    params = results["measures"]["params"]
    assert params["mlp"] <= params["cnn"] < params["mlp"] + 768 + 1 + 10  # the widest MLP within the budget
    assert "±" in results["rows"][1]["measured"]  # two seeds: mean and spread


def test_bad_input_is_refused_before_writing(tmp_path, capsys):
    with pytest.raises(ValueError, match="Unknown experiment 'relu-vs-sigmoid'.*Accepted: relu-vs-tanh, dropout"):
        run_experiment("relu-vs-sigmoid", run_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="repeats.*positive integer.*Received: repeats=0"):
        run_experiment("sharing", repeats=0, run_dir=tmp_path / "b")
    with pytest.raises(SystemExit) as e:
        cli.main(["experiment", "sharing", "--repeats", "0"])
    assert e.value.code == 2 and "positive integer" in capsys.readouterr().err
    assert cli.main(["experiment", "nope"]) == 2
    assert "Accepted: relu-vs-tanh" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_dataset_without_enough_classes_or_images(tmp_path):
    one = tmp_path / "one"
    image_folder(one, ["class0"], 4, sizes=20)
    with pytest.raises(ValueError, match="class"):
        run_experiment("sharing", quick=True, dataset=f"folder:{one}", run_dir=tmp_path / "r1", verbose=0)
    few = tmp_path / "few"
    image_folder(few, ["class0", "class1"], 6, sizes=20)
    with pytest.raises(ValueError, match=r"needs at least 64 training images.*Received.*Accepted"):
        run_experiment("sharing", quick=True, dataset=f"folder:{few}", run_dir=tmp_path / "r2", verbose=0)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


def test_existing_run_dir_is_never_reused(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        run_experiment("sharing", quick=True, run_dir=tmp_path / "taken")


def _stat(*values):
    from keras_classics.experiments.stats import summarize

    return summarize(values)


def test_verdicts_from_synthetic_results():
    """No training: the verdict of a row comes from its numbers and their noise."""
    from keras_classics.experiments.stats import (difference_test, gap_arm, judge, judge_rows, paired_test,
                                                  proportion_arm)

    def acc(label, *values, n=256):
        return proportion_arm(label, _stat(*values), n, chance=0.1)

    # 10 classes, 256 validation images: one accuracy's binomial SE at chance is 1.9 points.
    held, verdict = judge(difference_test(acc("off", 0.109), acc("on", 0.133), order="a<b"))
    assert held is None and verdict == "undecided: both arms at chance"
    held, verdict = judge(difference_test(acc("off", 0.50), acc("on", 0.53), order="a<b"))
    assert held is None and verdict.startswith("undecided: 3.0 points apart, within noise")
    held, verdict = judge(difference_test(acc("off", 0.30), acc("on", 0.70), order="a<b"))
    assert held is True and verdict.startswith("yes, by 40.0 points")
    held, verdict = judge(difference_test(acc("off", 0.70), acc("on", 0.30), order="a<b"))
    assert held is False and verdict.startswith("no: 40.0 points the other way")
    # One arm at chance, the other well above it: decided, and the table says which was at chance.
    held, verdict = judge(difference_test(acc("plain", 0.10), acc("resnet", 0.60), order="a<b"))
    assert held is True and "plain at chance" in verdict
    # The seeds' spread widens the standard error: 0.40 vs 0.55 is clear on 256 images, not with these seeds.
    assert judge(difference_test(acc("a", 0.40), acc("b", 0.55), order="a<b"))[0] is True
    assert judge(difference_test(acc("a", 0.20, 0.60), acc("b", 0.35, 0.75), order="a<b"))[0] is None
    # Gaps: both networks at chance in training and validation decide nothing.
    chance_gap = gap_arm("no dropout", _stat(0.12), 320, _stat(0.109), 256, chance=0.1)
    assert chance_gap["at_chance"]
    assert judge(difference_test(gap_arm("dropout", _stat(0.11), 320, _stat(0.11), 256, chance=0.1),
                                 chance_gap, order="a<b")) == (None, "undecided: both arms at chance")
    # Just above chance (the old default-size dropout run): a 1.1-point narrower gap is within noise.
    held, verdict = judge(difference_test(gap_arm("dropout", _stat(0.156), 320, _stat(0.133), 256, chance=0.1),
                                          gap_arm("no dropout", _stat(0.144), 320, _stat(0.109), 256, chance=0.1),
                                          order="a<b"))
    assert held is None and "within noise" in verdict
    overfit = gap_arm("no dropout", _stat(1.0), 320, _stat(0.55), 256, chance=0.1)
    assert judge(difference_test(gap_arm("dropout", _stat(0.85), 320, _stat(0.65), 256, chance=0.1),
                                 overfit, order="a<b"))[0] is True
    # Paired series: one pair has no noise estimate; a consistent difference is decided.
    assert judge(paired_test("a", [1.0], "b", [2.0], order="a<b"))[1].startswith("undecided: no noise estimate")
    assert judge(paired_test("a", [1.0, 2.0, 3.0], "b", [1.5, 2.6, 3.4], order="a<b"))[0] is True
    # Rows with a test get their verdict from it; the table prints the verdict.
    results = {"experiment": "dropout", "quick": False, "dataset": "shapes", "seeds": [0], "paper": "p",
               "rows": judge_rows([
                   {"claim": "c1", "measured": "m1", "held": True,
                    "test": difference_test(acc("off", 0.109), acc("on", 0.133), order="a<b")},
                   {"claim": "c2", "measured": "m2", "held": True}])}
    assert results["rows"][0]["held"] is None and results["rows"][1]["verdict"] == "yes"
    table = render_table(results)
    assert "undecided: both arms at chance" in table and "yes" in table
