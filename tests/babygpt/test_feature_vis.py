"""Feature visualisation on the 8x8 digits: the CNN learns, gradient ascent raises what it
targets, the regularised images are recognised by a classifier that shares nothing with the
CNN, everything is reproducible, and bad input is refused with the fix."""

import pytest
import torch

from babygpt.interp.feature_vis import (accuracy, digits_split, independent_classifier,
                                        objective, recognised, train_cnn, visualise)


@pytest.fixture(scope="module")
def trained():
    x_train, y_train, x_test, y_test = digits_split()
    model = train_cnn(x_train, y_train, steps=150)
    return model, independent_classifier(x_train, y_train), x_test, y_test


def test_cnn_generalises(trained):
    model, _, x_test, y_test = trained
    assert accuracy(model, x_test, y_test) > 0.95


@pytest.mark.parametrize("layer,index", [("conv1", 2), ("conv2", 5), ("logits", 3)])
@pytest.mark.parametrize("regularise", [False, True])
def test_ascent_raises_the_objective(trained, layer, index, regularise):
    model = trained[0]
    start = 0.1 * torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    if regularise:
        start = torch.sigmoid(start - 2.0)
    image = visualise(model, layer, index, steps=50, regularise=regularise)
    with torch.no_grad():
        assert objective(model, image, layer, index) > objective(model, start, layer, index) + 0.2


def test_regularised_images_look_like_their_class(trained):
    model, classifier = trained[:2]
    images = torch.cat([visualise(model, "logits", c, regularise=True) for c in range(10)])
    _, hits = recognised(classifier, images)
    assert hits.sum() >= 8
    assert images.min() >= 0 and images.max() <= 1


def test_deterministic(trained):
    model = trained[0]
    for regularise in (False, True):
        first = visualise(model, "conv2", 1, steps=20, regularise=regularise, seed=3)
        again = visualise(model, "conv2", 1, steps=20, regularise=regularise, seed=3)
        assert torch.equal(first, again)
    x_train, y_train = digits_split()[:2]
    a = train_cnn(x_train[:200], y_train[:200], steps=5, seed=2)
    b = train_cnn(x_train[:200], y_train[:200], steps=5, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_bad_input_names_value_limit_and_fix(trained):
    model = trained[0]
    with pytest.raises(ValueError, match=r"class 10 .*'logits', which has 10.*from 0 to 9"):
        visualise(model, "logits", 10)
    with pytest.raises(ValueError, match=r"channel 16 .*'conv2', which has 16.*from 0 to 15"):
        visualise(model, "conv2", 16)
    with pytest.raises(ValueError, match=r"layer='conv3' .*use one of \['conv1', 'conv2'"):
        visualise(model, "conv3", 0)
    with pytest.raises(ValueError, match="got 3 images: pass one per class, 10"):
        recognised(trained[1], torch.zeros(3, 1, 8, 8))


def test_total_variation_counts_vertical_and_horizontal_neighbours_once_each():
    from babygpt.interp.feature_vis import total_variation

    rows = torch.arange(8.0)[:, None].expand(8, 8)[None, None]  # brightness grows downwards
    # 7 pairs of vertical neighbours in each of 8 columns, each differing by 1; none horizontally
    assert total_variation(rows).tolist() == [56.0]
    assert total_variation(rows.transpose(2, 3)).tolist() == [56.0]
    assert total_variation(torch.cat([rows, 2 * rows])).tolist() == [56.0, 224.0]


def test_rescale_maps_each_image_onto_zero_to_one_on_its_own():
    from babygpt.interp.feature_vis import rescale

    images = torch.stack([torch.linspace(-3, 5, 64), torch.linspace(10, 11, 64)]).view(2, 1, 8, 8)
    out = rescale(images)
    assert out.amin((1, 2, 3)).tolist() == [0.0, 0.0] and out.amax((1, 2, 3)).tolist() == [1.0, 1.0]
    torch.testing.assert_close(out[1].flatten(), torch.linspace(0, 1, 64))
