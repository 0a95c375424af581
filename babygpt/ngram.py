"""Count-based n-gram language models over token ids, with add-k smoothing or Witten-Bell
interpolation.

An n-gram model predicts token ``w`` from the ``n - 1`` tokens before it, its context ``c``,
by counting how often ``c w`` followed ``c`` in the training text:

* add-k (Lidstone; Laplace when k = 1):  P(w | c) = (C(c w) + k) / (C(c) + k V)
* Witten-Bell interpolation (Witten & Bell 1991; Chen & Goodman 1999, section 2.5):
  P_m(w | c) = (C(c w) + N1+(c .) P_{m-1}(w | c')) / (C(c) + N1+(c .)), where c' drops the
  oldest token of c, N1+(c .) counts the distinct tokens seen after c, P_0 is uniform, and a
  context never seen falls back to P_{m-1} entirely.

Counts are kept in sorted numpy arrays keyed by the n-gram read as a number in base V, so a
model of any order over Tiny Shakespeare fits in a second; vocabulary sizes and orders whose keys
would overflow int64 are refused with an error.
"""

import numpy as np

SMOOTHINGS = ("add-k", "witten-bell")


class NGramModel:
    """An n-gram model over token ids ``0 .. vocab_size - 1``, estimated by counting."""

    def __init__(self, n: int, vocab_size: int, smoothing: str = "add-k", k: float = 1.0):
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n={n!r} must be an integer of at least 1 (n=1 is the unigram model)")
        if vocab_size < 1:
            raise ValueError(f"vocab_size={vocab_size} must be at least 1")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing={smoothing!r} is not one of {SMOOTHINGS}")
        if smoothing == "add-k" and not k > 0:
            raise ValueError(f"k={k} must be positive: add-k with k=0 gives unseen n-grams probability 0")
        if vocab_size ** n >= 2**63:
            raise ValueError(
                f"n={n} with vocab_size={vocab_size} gives n-gram keys of {vocab_size}**{n}, past "
                f"int64: use n <= {int(np.log(2**63) / np.log(vocab_size))} for this vocabulary"
            )
        self.n, self.vocab_size, self.smoothing, self.k = int(n), int(vocab_size), smoothing, k
        self.tables = None  # tables[m]: counts of m-grams, m = 1 .. n (see fit)

    def fit(self, ids) -> "NGramModel":
        """Count every m-gram of ``ids`` for m = 1 .. n. Returns self."""
        ids = self._check_ids(ids, "training ids")
        if len(ids) < self.n:
            raise ValueError(f"the training text has {len(ids)} tokens, fewer than n={self.n}: use a longer text")
        self.tables = {m: _count_table(ngram_keys(ids, m, self.vocab_size), self.vocab_size) for m in range(1, self.n + 1)}
        return self

    def prob(self, contexts: np.ndarray, next_ids: np.ndarray) -> np.ndarray:
        """P(next | context) for a batch: ``contexts`` of shape (batch, n - 1), ``next_ids`` (batch,)."""
        if self.tables is None:
            raise RuntimeError("the model has no counts yet: call fit(train_ids) first")
        contexts = np.asarray(contexts, dtype=np.int64).reshape(len(next_ids), self.n - 1)
        next_ids = np.asarray(next_ids, dtype=np.int64)
        if self.smoothing == "add-k":
            return self._add_k(contexts, next_ids)
        return self._witten_bell(contexts, next_ids)

    def log_probs(self, ids) -> np.ndarray:
        """log P(ids[t] | ids[t-n+1 : t]) for every t >= n - 1, shape (len(ids) - n + 1,)."""
        ids = self._check_ids(ids, "ids")
        if len(ids) < self.n:
            raise ValueError(f"{len(ids)} tokens are too few to score with an n={self.n} model")
        windows = np.lib.stride_tricks.sliding_window_view(ids, self.n)
        return np.log(self.prob(windows[:, :-1], windows[:, -1]))

    def perplexity(self, ids) -> float:
        """exp of the mean negative log-likelihood per token of ``ids`` (full contexts only)."""
        return float(np.exp(-self.log_probs(ids).mean()))

    def next_token_probs(self, context) -> np.ndarray:
        """The distribution over the next token after ``context`` (its last n - 1 ids), shape (V,)."""
        context = self._check_ids(context, "context")
        if len(context) < self.n - 1:
            raise ValueError(
                f"the context has {len(context)} tokens but an n={self.n} model needs {self.n - 1}: "
                f"give a longer prompt"
            )
        last = context[len(context) - (self.n - 1):] if self.n > 1 else context[:0]
        candidates = np.arange(self.vocab_size)
        return self.prob(np.broadcast_to(last, (self.vocab_size, self.n - 1)), candidates)

    def generate(self, prompt, length: int, seed: int = 0) -> np.ndarray:
        """Sample ``length`` tokens after ``prompt``; returns prompt + samples as one id array."""
        rng = np.random.default_rng(seed)
        out = list(self._check_ids(prompt, "prompt"))
        for _ in range(length):
            p = self.next_token_probs(np.array(out[len(out) - self.n + 1:] if self.n > 1 else [], dtype=np.int64))
            out.append(int(rng.choice(self.vocab_size, p=p / p.sum())))
        return np.array(out, dtype=np.int64)

    def _add_k(self, contexts, next_ids):
        table = self.tables[self.n]
        context_keys = _keys_of_rows(contexts, self.vocab_size)
        ngram_count = table.ngram_count(context_keys * self.vocab_size + next_ids)
        context_count = table.context_count(context_keys)
        return (ngram_count + self.k) / (context_count + self.k * self.vocab_size)

    def _witten_bell(self, contexts, next_ids):
        p = np.full(len(next_ids), 1.0 / self.vocab_size)
        for m in range(1, self.n + 1):
            table = self.tables[m]
            context_keys = _keys_of_rows(contexts[:, contexts.shape[1] - (m - 1):], self.vocab_size)
            seen = table.context_count(context_keys).astype(np.float64)
            types = table.continuation_types(context_keys).astype(np.float64)
            count = table.ngram_count(context_keys * self.vocab_size + next_ids)
            interpolated = (count + types * p) / np.maximum(seen + types, 1.0)
            p = np.where(seen > 0, interpolated, p)
        return p

    def _check_ids(self, ids, what: str) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        bad = ids[(ids < 0) | (ids >= self.vocab_size)]
        if len(bad):
            raise ValueError(
                f"{what} contain token id {bad[0]}, outside the vocabulary [0, {self.vocab_size}): "
                f"encode the text with the tokenizer the model was built for"
            )
        return ids


def ngram_keys(ids: np.ndarray, m: int, vocab_size: int) -> np.ndarray:
    """Every m-gram of ``ids`` as one int64 number in base ``vocab_size``, shape (len(ids) - m + 1,)."""
    return _keys_of_rows(np.lib.stride_tricks.sliding_window_view(ids, m), vocab_size)


def _keys_of_rows(rows: np.ndarray, vocab_size: int) -> np.ndarray:
    """Each row of token ids (batch, m) read as a number in base vocab_size, shape (batch,)."""
    keys = np.zeros(rows.shape[0], dtype=np.int64)
    for column in range(rows.shape[1]):
        keys = keys * vocab_size + rows[:, column]
    return keys


class _CountTable:
    """Sorted m-gram keys with their counts, and the same per context (the m-gram minus its last token)."""

    def __init__(self, keys, counts, context_keys, context_counts, context_types):
        self.keys, self.counts = keys, counts
        self.context_keys, self.context_counts, self.context_types = context_keys, context_counts, context_types

    def ngram_count(self, keys):
        return _lookup(self.keys, self.counts, keys)

    def context_count(self, context_keys):
        return _lookup(self.context_keys, self.context_counts, context_keys)

    def continuation_types(self, context_keys):
        return _lookup(self.context_keys, self.context_types, context_keys)


def _count_table(keys: np.ndarray, vocab_size: int) -> _CountTable:
    keys, counts = np.unique(keys, return_counts=True)
    # Sorted m-gram keys divided by V are sorted context keys: each context is one run.
    context_keys, starts = np.unique(keys // vocab_size, return_index=True)
    context_counts = np.add.reduceat(counts, starts)
    context_types = np.diff(np.append(starts, len(keys)))
    return _CountTable(keys, counts, context_keys, context_counts, context_types)


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[i] where sorted_keys[i] == query, and 0 where the query is absent."""
    position = np.clip(np.searchsorted(sorted_keys, queries), 0, len(sorted_keys) - 1)
    return np.where(sorted_keys[position] == queries, values[position], 0)


def count_baselines(train_ids, val_ids, vocab_size: int) -> dict[str, float]:
    """Chapter 1's two reference points, in nats per token of ``val_ids``: the add-1 bigram and
    the Witten-Bell 5-gram (the best order on Tiny Shakespeare's characters). A trained
    transformer is worth its cost when it ends below both."""
    bigram = NGramModel(2, vocab_size, "add-k", k=1.0).fit(train_ids)
    five_gram = NGramModel(5, vocab_size, "witten-bell").fit(train_ids)
    return {"bigram, add-1": float(np.log(bigram.perplexity(val_ids))),
            "5-gram, Witten-Bell": float(np.log(five_gram.perplexity(val_ids)))}
