"""The one top-k rule (keras_classics.training.metrics): no tie is a free hit, in NumPy and in the training metrics."""

import keras
import numpy as np
import pytest

from keras_classics.training.losses import compile_arguments
from keras_classics.training.metrics import (
    TopKAccuracy,
    ranked_classes,
    top_k_accuracy,
    top_k_hits,
    true_class_rank,
)
from tests.evaluate.conftest import collapsed_model

# Ten balanced classes: ten images of each.
LABELS = np.repeat(np.arange(10), 10)


def test_the_collapsed_model_scores_half_not_all_in_numpy():
    """One class scored, nine tied zeros: the winner and the four tied classes of lowest index are the first
    five, so top-5 is 50% on balanced classes. Keras' own top-k metric counts every tie: 100%."""
    scores = np.tile(np.array([0.0, 0, 0, 1, 0, 0, 0, 0, 0, 0], np.float32), (len(LABELS), 1))  # class 3 wins
    assert top_k_accuracy(LABELS, scores, 5) == 0.5
    assert top_k_accuracy(LABELS, scores, 1) == 0.1
    hits = top_k_hits(LABELS, scores, 5).reshape(10, 10).all(axis=1)
    assert list(np.flatnonzero(hits)) == [0, 1, 2, 3, 4]  # the winner (3) and tied 0, 1, 2, 4
    keras_top5 = keras.metrics.SparseTopKCategoricalAccuracy(k=5)
    keras_top5.update_state(LABELS, scores)
    assert float(keras_top5.result()) == 1.0  # the free ties this module refuses


@pytest.mark.parametrize("one_hot", [False, True])
def test_the_collapsed_model_scores_half_in_the_training_metrics(one_hot):
    """The metrics the training engine compiles (compile_arguments), on exactly that model."""
    model = collapsed_model(10, size=8, winner=7)
    model.compile(optimizer="sgd", **compile_arguments(model, num_classes=10, one_hot=one_hot))
    images = np.random.default_rng(0).uniform(0, 1, (len(LABELS), 8, 8, 3)).astype("float32")
    labels = np.eye(10, dtype="float32")[LABELS] if one_hot else LABELS
    logs = model.evaluate(images, labels, batch_size=32, verbose=0, return_dict=True)
    assert logs["top5"] == pytest.approx(0.5) and logs["top1"] == pytest.approx(0.1)


def test_keras_metric_and_numpy_agree_on_ties_and_nans():
    rng = np.random.default_rng(1)
    scores = np.round(rng.uniform(0, 1, (400, 12)), 1).astype(np.float32)  # many ties
    scores[rng.uniform(size=scores.shape) < 0.05] = np.nan
    labels = rng.integers(0, 12, 400)
    for k in (1, 3, 5):
        metric = TopKAccuracy(k)
        for start in range(0, 400, 64):  # batches, as fit and evaluate feed them
            metric.update_state(labels[start:start + 64], scores[start:start + 64])
        assert float(metric.result()) == pytest.approx(top_k_accuracy(labels, scores, k), abs=1e-6)


def test_rank_is_the_position_in_the_ranked_order():
    """true_class_rank, ranked_classes (the order predict lists) and argsort agree, NaN last, ties by index."""
    rng = np.random.default_rng(2)
    scores = np.round(rng.normal(size=(300, 7)), 0)
    scores[rng.uniform(size=scores.shape) < 0.1] = np.nan
    labels = rng.integers(0, 7, 300)
    order = ranked_classes(scores)
    expected = [list(row).index(label) for row, label in zip(order, labels)]
    assert list(true_class_rank(labels, scores)) == expected
    assert list(order[0]) == list(np.argsort(-scores[0], kind="stable"))
    tied = np.array([[0.2, 0.5, 0.5, 0.5]])
    assert list(ranked_classes(tied)[0]) == [1, 2, 3, 0]
    assert [int(true_class_rank(np.array([c]), tied)[0]) for c in range(4)] == [3, 0, 1, 2]
    all_nan = np.full((1, 3), np.nan)
    assert [int(true_class_rank(np.array([c]), all_nan)[0]) for c in range(3)] == [0, 1, 2]


def test_a_nan_true_score_is_never_a_hit_ahead_of_numbers():
    scores = np.array([[np.nan, 0.1, 0.2], [0.3, np.nan, np.nan]])
    assert list(top_k_hits([0, 2], scores, 2)) == [False, False]
    assert list(top_k_hits([0, 1], scores, 2)) == [False, True]


def test_metric_configuration_round_trip_and_bad_arguments():
    metric = TopKAccuracy(3, one_hot=True)
    again = TopKAccuracy.from_config(metric.get_config())
    assert (again.name, again.k, again.one_hot) == ("top3", 3, True)
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric)).k == 3
    with pytest.raises(ValueError, match="`k` must be a positive integer. Received: k=0"):
        TopKAccuracy(0)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        top_k_accuracy([0, 3], np.zeros((2, 3)), 1)
    with pytest.raises(ValueError, match="one label per image"):
        top_k_accuracy([0], np.zeros((2, 3)), 1)
    with pytest.raises(ValueError, match=r"shape \(images, classes\)"):
        top_k_accuracy([0], np.zeros(3), 1)
