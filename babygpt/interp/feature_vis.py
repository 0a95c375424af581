"""Feature visualisation (Olah et al. 2017) by gradient ascent on the input, offline and small:
a tiny CNN trained on scikit-learn's bundled 8x8 digits, an image optimised to maximise one of
its channels or class logits, and an independently trained classifier that says whether the
image looks like the class it was made for.

Images are (batch, 1, 8, 8) float32 tensors, pixels in [0, 1] for real digits.
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from torch import nn


def digits_split(test_fraction: float = 0.25, seed: int = 0):
    """scikit-learn's 1,797 digits, pixels scaled to [0, 1], split stratified by class:
    -> x_train (n_train, 1, 8, 8), y_train (n_train,), x_test (n_test, 1, 8, 8), y_test."""
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target)
    train, test = train_test_split(np.arange(len(y)), test_size=test_fraction,
                                   random_state=seed, stratify=digits.target)
    return x[train], y[train], x[test], y[test]


class DigitCNN(nn.Module):
    """Two 3x3 convolutions (8 and 16 channels, ReLU), a 2x2 max-pool and a linear layer:
    x (batch, 1, 8, 8) -> logits (batch, 10). Its layers, by name: conv1, conv2, logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor, layer: str = "logits") -> torch.Tensor:
        """The output of ``layer``, before its ReLU: conv1 (batch, 8, 8, 8), conv2
        (batch, 16, 8, 8), logits (batch, 10)."""
        check_layer(layer)
        h = self.conv1(x)
        if layer == "conv1":
            return h
        h = self.conv2(F.relu(h))
        if layer == "conv2":
            return h
        return self.head(F.max_pool2d(F.relu(h), 2).flatten(1))


LAYER_SIZES = {"conv1": 8, "conv2": 16, "logits": 10}


def check_layer(layer: str) -> None:
    if layer not in LAYER_SIZES:
        raise ValueError(f"layer={layer!r} is not a layer of DigitCNN: use one of "
                         f"{list(LAYER_SIZES)}")


def train_cnn(x: torch.Tensor, y: torch.Tensor, steps: int = 300, lr: float = 1e-2,
              seed: int = 0) -> DigitCNN:
    """Train a DigitCNN on x (n, 1, 8, 8), y (n,): full batch, Adam, cross-entropy."""
    torch.manual_seed(seed)
    model = DigitCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def accuracy(model: DigitCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of x (n, 1, 8, 8) that the model labels as y (n,)."""
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


def objective(model: DigitCNN, x: torch.Tensor, layer: str, index: int) -> torch.Tensor:
    """What gradient ascent maximises, per image: the mean over positions of channel ``index``
    of a conv layer, or the logit of class ``index``. x (batch, 1, 8, 8) -> (batch,)."""
    check_layer(layer)
    size = LAYER_SIZES[layer]
    if not 0 <= index < size:
        what = "class" if layer == "logits" else "channel"
        raise ValueError(f"{what} {index} is out of range for layer {layer!r}, which has {size}: "
                         f"pick an index from 0 to {size - 1}")
    out = model(x, layer)[:, index]
    return out if layer == "logits" else out.mean((1, 2))


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """The summed squared differences between neighbouring pixels: (batch, 1, 8, 8) -> (batch,)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).sum((1, 2, 3))
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum((1, 2, 3))
    return dx + dy


def rescale(images: torch.Tensor) -> torch.Tensor:
    """Each image's pixels mapped linearly onto [0, 1], as a figure shows them:
    (batch, 1, 8, 8) -> (batch, 1, 8, 8)."""
    low = images.amin((1, 2, 3), keepdim=True)
    high = images.amax((1, 2, 3), keepdim=True)
    return (images - low) / (high - low).clamp_min(1e-8)


def visualise(model: DigitCNN, layer: str, index: int, steps: int = 100, lr: float = 0.1,
              regularise: bool = False, tv: float = 0.02, jitter: int = 1,
              seed: int = 0) -> torch.Tensor:
    """Gradient ascent on the input, with Adam, from faint noise: -> the image (1, 1, 8, 8).

    Naive (``regularise=False``): the pixels are free and only the objective is maximised.
    Regularised: the pixels are kept in [0, 1] (a sigmoid of the parameters, starting dark
    like the digits' background), the image is shifted by up to ``jitter`` pixels at random
    each step (so no single pixel position can carry the objective), and ``tv`` times its
    total variation is subtracted from the objective (so neighbouring pixels agree)."""
    objective(model, torch.zeros(1, 1, 8, 8), layer, index)  # checks layer and index
    generator = torch.Generator().manual_seed(seed)
    noise = 0.1 * torch.randn(1, 1, 8, 8, generator=generator)
    param = (noise - 2.0 if regularise else noise).requires_grad_()  # sigmoid(-2) = 0.12
    optimizer = torch.optim.Adam([param], lr=lr)
    for _ in range(steps):
        if regularise:
            image = torch.sigmoid(param)
            dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()
            shifted = torch.roll(image, (dy, dx), dims=(2, 3))
            loss = -objective(model, shifted, layer, index).sum() + tv * total_variation(image).sum()
        else:
            loss = -objective(model, param, layer, index).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return torch.sigmoid(param) if regularise else param.detach().clone()


def independent_classifier(x: torch.Tensor, y: torch.Tensor, seed: int = 1) -> LogisticRegression:
    """A classifier that shares nothing with the CNN: logistic regression on the 64 raw pixels
    of x (n, 1, 8, 8), labels y (n,)."""
    return LogisticRegression(max_iter=2000, random_state=seed).fit(x.flatten(1).numpy(),
                                                                   y.numpy())


def recognised(classifier: LogisticRegression, images: torch.Tensor) -> tuple:
    """The class the independent classifier gives each of images (10, 1, 8, 8), made for
    classes 0 to 9 and rescaled to [0, 1] as a figure shows them, and whether it is that
    class: -> (labels (10,), hits (10,) bool)."""
    if images.shape[0] != 10:
        raise ValueError(f"got {images.shape[0]} images: pass one per class, 10, in class order")
    labels = classifier.predict(rescale(images).flatten(1).numpy())
    return labels, labels == np.arange(10)
