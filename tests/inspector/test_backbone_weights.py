"""The README's backbone file (`weights convert ... --no-top`) where the README uses it: the inspector's pictures."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.helpers import run_cli
from tests.torchvision_golden import load_golden, random_state_dict


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory):
    """README: ``keras-classics weights convert resnet18 resnet18.safetensors -o resnet18_backbone.weights.h5 --no-top``."""
    folder = tmp_path_factory.mktemp("backbone")
    case = load_golden()[0]["resnet18/torchvision"]
    save_file(random_state_dict(case["keys"], case["seed"]), str(folder / "resnet18.safetensors"))
    return folder


def test_visualize_filters_takes_the_no_top_file(backbone_file, capsys, monkeypatch):
    monkeypatch.chdir(backbone_file)
    code, _, err = run_cli(capsys, "weights", "convert", "resnet18", "resnet18.safetensors",
                           "-o", "resnet18_backbone.weights.h5", "--no-top")
    assert code == 0, err
    code, out, err = run_cli(capsys, "visualize", "filters", "resnet18", "--weights", "resnet18_backbone.weights.h5",
                             "-o", "filters.png")
    assert code == 0 and "Traceback" not in err and "filters.png" in out, err
    # The pictures show the file's own filters: torchvision's conv1 kernel, ported (O, I, H, W) -> (H, W, I, O).
    from keras_classics.inspect.pictures import _model_for_pictures

    model, _, note = _model_for_pictures("resnet18", "resnet18_backbone.weights.h5")
    case = load_golden()[0]["resnet18/torchvision"]
    source = random_state_dict(case["keys"], case["seed"])["conv1.weight"]
    np.testing.assert_array_equal(model.get_layer("conv1_conv").get_weights()[0], np.transpose(source, (2, 3, 1, 0)))
    assert note == "weights: resnet18_backbone.weights.h5" and "predictions" not in [x.name for x in model.layers]
