"""Modular addition, the task on which a small transformer groks (Power et al. 2022), and the
one-layer babygpt GPT that learns it (Nanda et al. 2023's setup).

Every pair (a, b) of residues mod a prime p is one sequence of three tokens ``a b =``, where
token p is ``=``; the model reads it and predicts (a + b) mod p at the last position. A fixed
random share of the p² pairs trains it; the rest is the test set.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ..model import GPT, GPTConfig, cross_entropy


def check_prime(p: int) -> None:
    """Raise ValueError unless p is a prime of at least 3."""
    if not isinstance(p, int) or p < 3 or any(p % d == 0 for d in range(2, int(p**0.5) + 1)):
        raise ValueError(
            f"p={p!r} is not a prime of at least 3: the Fourier analysis of this chapter needs Z_p "
            f"to be a field; pick a prime such as 59 or 113"
        )


def all_pairs(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sequence ``a b =`` (p², 3), row a·p + b, and its answer (a + b) mod p (p²,)."""
    check_prime(p)
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).T
    ids = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    return ids, (a + b) % p


def train_test_split(p: int, train_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into :func:`all_pairs` of the training pairs and of the test pairs (a random
    ``train_fraction`` of the p² pairs, and the rest)."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction={train_fraction} must be between 0 and 1 (0.3 is the classic)")
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = round(train_fraction * p * p)
    return order[:n_train], order[n_train:]


def modular_addition_model(p: int, d_model: int, n_head: int = 4, seed: int = 0,
                           init_scale: float = 5.0) -> GPT:
    """A one-layer babygpt GPT for the task: vocabulary p + 1, context 3, MLP width 4·d_model,
    no biases, an untied head, and no LayerNorm (each replaced by the identity), as in Nanda et
    al. (2023); its MLP keeps babygpt's GELU where they used a ReLU. Every weight is GPT-2's
    initialisation times ``init_scale`` (std 0.1 by default): from N(0, 0.02) weights this
    strong a weight decay leaves the model unable to memorise its training pairs."""
    check_prime(p)
    config = GPTConfig(vocab_size=p + 1, context=3, n_layer=1, n_head=n_head, d_model=d_model,
                       bias=False, ln_bias=False, tie_head=False)
    model = GPT(config, seed=seed)
    with torch.no_grad():
        for weight in model.parameters():
            weight.mul_(init_scale)
    model.ln_f = nn.Identity()
    for block in model.blocks:
        block.ln1, block.ln2 = nn.Identity(), nn.Identity()
    return model


@dataclass(frozen=True)
class GrokkingConfig:
    """The training recipe: full batch, AdamW, one step per epoch."""

    p: int = 113
    train_fraction: float = 0.3
    d_model: int = 128
    n_head: int = 4
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    init_scale: float = 5.0
    epochs: int = 25_000
    eval_every: int = 100
    seed: int = 0


def answer_logits(model: GPT, ids: torch.Tensor) -> torch.Tensor:
    """The logits of the answer position over the p residues: ids (n, 3) -> (n, p)."""
    return model(ids)[:, -1, : model.config.vocab_size - 1]


def loss_and_accuracy(model: GPT, ids: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of the answers to ``ids`` (n, 3)."""
    with torch.no_grad():
        logits = answer_logits(model, ids)
        return cross_entropy(logits[:, None], labels[:, None]).item(), (logits.argmax(-1) == labels).float().mean().item()


def train_grokking(config: GrokkingConfig, device="cpu", callback=None,
                   compile_model: bool = False) -> tuple[GPT, dict]:
    """Train the model of :func:`modular_addition_model` on the training pairs, full batch.

    Every ``eval_every`` epochs (and at the last) the history records the epoch and the train
    and test loss and accuracy; ``callback(model, epoch)``, if given, is called there too and
    may return a dict of more numbers to record. ``compile_model`` trains through
    ``torch.compile`` (for a GPU). Returns the model (in eval mode) and the history, a dict of
    lists.
    """
    ids, labels = all_pairs(config.p)
    train, test = train_test_split(config.p, config.train_fraction, config.seed)
    ids, labels = ids.to(device), labels.to(device)
    model = modular_addition_model(config.p, config.d_model, config.n_head, config.seed,
                                   config.init_scale).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  betas=config.betas)
    forward = torch.compile(model) if compile_model else model
    train_ids, train_labels = ids[train], labels[train][:, None]
    history = {"epoch": [], "train_loss": [], "test_loss": [], "train_acc": [], "test_acc": []}
    for epoch in range(1, config.epochs + 1):
        model.train()
        loss = cross_entropy(answer_logits(forward, train_ids)[:, None], train_labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            model.eval()
            history["epoch"].append(epoch)
            for split, rows in (("train", train), ("test", test)):
                split_loss, split_acc = loss_and_accuracy(model, ids[rows], labels[rows])
                history[f"{split}_loss"].append(split_loss)
                history[f"{split}_acc"].append(split_acc)
            for key, value in ((callback(model, epoch) if callback else None) or {}).items():
                history.setdefault(key, []).append(value)
    return model.eval(), history


def first_epoch(history: dict, key: str, threshold: float, above: bool = True) -> int | None:
    """The first recorded epoch at which ``history[key]`` is above (or below) ``threshold``."""
    for epoch, value in zip(history["epoch"], history[key]):
        if (value > threshold) if above else (value < threshold):
            return epoch
    return None
