"""The microGPT seed's public API, kept working: ``micro_gpt_1``, ``micro_gpt_2``, ``micro_gpt_4``.

As in the seed's README::

    gpt = micro_gpt_4(vocab=9000, model_d=512)
    gpt.count_params()                      # 17205248
    params = gpt.get_params()
    forward = jax.jit(gpt.run_fn, static_argnames=["num_heads"])
    logits = forward(input_ids, params, num_heads=8)

Each stack is the seed's architecture as its code computes it (see ``model.py``): ``micro_gpt_4``
has four ``"seed"`` blocks; ``micro_gpt_1`` and ``micro_gpt_2`` have one and two
``"seed_normed_residual"`` blocks, whose residual stream carries ``LN(x)``. Initialisation
follows the seed: the embedding from key 42, every block from the same key ``seed`` (default 0).

The parameter dictionary uses the seed's top-level names: ``embed``, and per block ``i``
``ln{i}``, ``attn{i}``, ``ffn{i}_fc``, ``ffn{i}_proj`` for ``micro_gpt_4``; for ``micro_gpt_1`` and
``micro_gpt_2`` the FFN matrices are numbered across blocks (``ffn1_fc``, ``ffn2_fc`` for block 1,
``ffn3_fc``, ``ffn4_fc`` for block 2), as the seed names them. Inside them the course's names
are used (the seed's README shows only the top level): a LayerNorm is ``{"gamma", "beta"}``,
attention ``{"W_q", "W_k", "W_v", "W_o"}``, a linear layer ``{"W", "b"}``.
"""

from dataclasses import replace

import jax

from .model import GPTConfig, forward, init_block, seed_config, _normal

EMBED_KEY = 42


class _SeedStack:
    """A seed stack of ``n_layer`` blocks over a ``vocab``-token vocabulary, ``model_d`` wide."""

    n_layer: int
    block: str

    def __init__(self, vocab: int, model_d: int, seed: int = 0, context: int = 512):
        self.vocab = vocab
        self.model_d = model_d
        self.seed = seed
        self.context = context

    def config(self, num_heads: int = 8) -> GPTConfig:
        """The equivalent ``GPTConfig`` (the seed chooses the head count at call time)."""
        config = seed_config(self.vocab, self.model_d, n_layer=self.n_layer, n_head=num_heads, context=self.context)
        return replace(config, block=self.block)

    def _ffn_names(self, layer: int) -> tuple[str, str]:
        return f"ffn{layer + 1}_fc", f"ffn{layer + 1}_proj"

    def get_params(self) -> dict:
        """The seed-named parameter dictionary, initialised as the seed does."""
        config = self.config()
        block = init_block(jax.random.key(self.seed), config)  # one key: every block identical
        tree = {
            "embed": _normal(jax.random.key(EMBED_KEY), (self.vocab, self.model_d), config.init_std),
            "blocks": [block] * self.n_layer,
        }
        return self.to_seed_names(tree)

    def count_params(self) -> int:
        """The number of parameters, as the seed's ``count_params`` reports it."""
        shapes = jax.eval_shape(self.get_params)  # counts without drawing the random numbers
        return int(sum(leaf.size for leaf in jax.tree.leaves(shapes)))

    def to_seed_names(self, tree: dict) -> dict:
        """The course's parameter tree (``model.py`` names) -> the seed's flat dictionary."""
        params = {"embed": tree["embed"]}
        for i, b in enumerate(tree["blocks"]):
            fc, proj = self._ffn_names(i)
            params[f"ln{i + 1}"] = {"gamma": b["ln1"]["scale"], "beta": b["ln1"]["bias"]}
            params[f"attn{i + 1}"] = {n.upper(): b["attn"][n] for n in ("w_q", "w_k", "w_v", "w_o")}
            params[fc] = {"W": b["ffn"]["w_in"], "b": b["ffn"]["b_in"]}
            params[proj] = {"W": b["ffn"]["w_out"], "b": b["ffn"]["b_out"]}
        return params

    def from_seed_names(self, params: dict) -> dict:
        """The seed's flat dictionary -> the course's parameter tree."""
        blocks = []
        for i in range(self.n_layer):
            fc, proj = self._ffn_names(i)
            attn = params[f"attn{i + 1}"]
            blocks.append({
                "ln1": {"scale": params[f"ln{i + 1}"]["gamma"], "bias": params[f"ln{i + 1}"]["beta"]},
                "attn": {"w_q": attn["W_Q"], "w_k": attn["W_K"], "w_v": attn["W_V"], "w_o": attn["W_O"]},
                "ffn": {"w_in": params[fc]["W"], "b_in": params[fc]["b"],
                        "w_out": params[proj]["W"], "b_out": params[proj]["b"]},
            })
        return {"embed": params["embed"], "blocks": blocks}

    def run_fn(self, input_ids, params: dict, num_heads: int = 8):
        """Logits ``(batch, seq, vocab)`` for ``input_ids`` ``(batch, seq)``, as the seed's ``run_fn``."""
        return forward(self.from_seed_names(params), input_ids, self.config(num_heads))


class micro_gpt_4(_SeedStack):
    """Four ``"seed"`` blocks: ``h = x + Attn(LN(x)); x = h + FFN(h)``."""

    n_layer = 4
    block = "seed"


class micro_gpt_2(_SeedStack):
    """Two ``"seed_normed_residual"`` blocks, FFN matrices numbered across blocks."""

    n_layer = 2
    block = "seed_normed_residual"

    def _ffn_names(self, layer: int) -> tuple[str, str]:
        return f"ffn{2 * layer + 1}_fc", f"ffn{2 * layer + 2}_fc"


class micro_gpt_1(micro_gpt_2):
    """One ``"seed_normed_residual"`` block."""

    n_layer = 1
