"""Training byte-level BPE from scratch, with pair counts updated incrementally.

The textbook loop (Sennrich et al., 2016) counts every adjacent pair of tokens in the corpus,
merges the most frequent pair into a new token, and counts again: ``V - 256`` passes over the
whole corpus. Two observations make it fast:

- BPE never merges across pre-tokens, so the corpus is a multiset of distinct words with
  counts (Tiny Shakespeare's 298,000 words are about 15,000 distinct ones);
- a merge only changes the words that hold the merged pair, so only their pairs' counts
  change. We keep, for each pair, its count and the words it occurs in, and after a merge
  subtract the old pairs and add the new ones of those words only.

The most frequent pair comes from a heap whose stale entries are corrected when popped.

**Tie-breaking** (deterministic and documented): among pairs with the same count, the pair
whose ``(left, right)`` is smallest wins, tokens compared by a key: a single byte ranks by
its character in GPT-2's printable byte alphabet (``"!"`` first, ``"Ġ"``, the space, after
``"ÿ"``), and all bytes rank before merged tokens, which rank in the order they were made.
That is the order Hugging Face ``tokenizers`` gives its ids, so on the same words the two
trainers make the same merges in the same order, which the tests check. Occurrences of a
pair in a word are merged left to right, so ``"aaa"`` with the merge ``(a, a)`` becomes
``"aa" "a"``; the count of ``(a, a)`` in ``"aaa"`` is 2, as in every BPE trainer we know of.
"""

import functools
import heapq
import numbers
from collections import Counter
from collections.abc import Iterable

from tqdm import tqdm

from .bpe import BytePairTokenizer
from .byte_alphabet import byte_to_char
from .pretokenize import require_text, split_special, split_words


@functools.cache
def tie_break_order() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(key_of_byte, byte_of_key)``: bytes ranked by their character in GPT-2's printable alphabet.

    Ties between pairs are broken by these keys (merged tokens rank after all bytes, in the
    order they were made), the order Hugging Face ``tokenizers`` gives its initial alphabet,
    so that our merges can be checked one by one against its trainer.
    """
    alphabet = byte_to_char()
    byte_of_key = tuple(sorted(range(256), key=lambda b: alphabet[b]))
    key_of_byte = [0] * 256
    for k, b in enumerate(byte_of_key):
        key_of_byte[b] = k
    return tuple(key_of_byte), byte_of_key


def count_words(texts: str | Iterable[str], special_tokens: Iterable[str] = ()) -> Counter:
    """How often each pre-token occurs in ``texts``; special tokens are cut out and not counted."""
    if isinstance(texts, (str, bytes, bytearray)):
        texts = [texts]
    specials = list(special_tokens)
    counts: Counter = Counter()
    for text in texts:
        require_text(text, "BPE training")
        for piece, is_special in split_special(text, specials):
            if not is_special:
                counts.update(split_words(piece))
    return counts


def train_merges(
    word_counts: dict[str, int], n_merges: int, progress: bool = False
) -> tuple[list[tuple[int, int]], list[int]]:
    """Learn up to ``n_merges`` merges from pre-token counts.

    Returns ``(merges, counts)``: ``merges[k]`` is the ``(left_id, right_id)`` pair that makes
    id ``256 + k`` and ``counts[k]`` how often it occurred when it was merged. The counts never
    increase from one merge to the next: a pair that a merge creates occurs at most as often
    as the merged token itself.
    Stops early when no pair is left (every word a single token).
    """
    words = [list(w.encode("utf-8", "surrogatepass")) for w in word_counts]
    freqs = list(word_counts.values())
    pair_count: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for wi, (word, f) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_count[pair] = pair_count.get(pair, 0) + f
            where.setdefault(pair, set()).add(wi)
    byte_key, byte_of_key = tie_break_order()

    def key_of(i: int) -> int:
        return byte_key[i] if i < 256 else i

    def id_of_key(k: int) -> int:
        return byte_of_key[k] if k < 256 else k

    heap = [(-c, key_of(a), key_of(b)) for (a, b), c in pair_count.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    counts: list[int] = []
    bar = tqdm(total=n_merges, desc="BPE merges", disable=not progress, mininterval=0.5)
    while len(merges) < n_merges and heap:
        negative, ka, kb = heapq.heappop(heap)
        a, b = id_of_key(ka), id_of_key(kb)
        current = pair_count.get((a, b), 0)
        if current != -negative:  # stale: the count changed since this entry was pushed
            if current > 0:
                heapq.heappush(heap, (-current, ka, kb))
            continue
        new_id = 256 + len(merges)
        merges.append((a, b))
        counts.append(current)
        changed = set()
        for wi in where.pop((a, b), ()):
            word, f = words[wi], freqs[wi]
            merged, i, hit = [], 0, False
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    merged.append(new_id)
                    i += 2
                    hit = True
                else:
                    merged.append(word[i])
                    i += 1
            if not hit:
                continue
            for pair in zip(word, word[1:]):
                pair_count[pair] -= f
                changed.add(pair)
            for pair in zip(merged, merged[1:]):
                pair_count[pair] = pair_count.get(pair, 0) + f
                where.setdefault(pair, set()).add(wi)
                changed.add(pair)
            words[wi] = merged
        for pair in changed:
            c = pair_count[pair]
            if c > 0:
                heapq.heappush(heap, (-c, key_of(pair[0]), key_of(pair[1])))
            else:
                del pair_count[pair]
        bar.update(1)
    bar.close()
    return merges, counts


def train_bpe(
    texts: str | Iterable[str],
    vocab_size: int,
    special_tokens: Iterable[str] = (),
    progress: bool = False,
) -> BytePairTokenizer:
    """Train a byte-level BPE tokenizer of ``vocab_size`` tokens (256 bytes + merges + specials).

    Special tokens get the ids after the merges, in the order given. If the text runs out of
    pairs first, the vocabulary is smaller than asked (see ``tokenizer.vocab_size``).
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, numbers.Integral):
        raise TypeError(
            f"vocab_size must be an integer, got {vocab_size!r} ({type(vocab_size).__name__}): "
            f"pass a number of tokens such as vocab_size=1024"
        )
    special_tokens = list(dict.fromkeys(special_tokens))
    smallest = 256 + len(special_tokens)
    if vocab_size < smallest:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: a byte-level vocabulary needs the 256 bytes "
            f"plus {len(special_tokens)} special token(s), so use vocab_size >= {smallest} "
            f"(e.g. 1024)"
        )
    if any(not s for s in special_tokens):
        raise ValueError("a special token cannot be the empty string")
    word_counts = count_words(texts, special_tokens)
    if not word_counts:
        raise ValueError(
            "the training text is empty (no word outside the special tokens), so there is nothing to "
            "learn merges from: pass the corpus, e.g. lmbase.corpora.load_text('tinyshakespeare')"
        )
    merges, _ = train_merges(word_counts, vocab_size - smallest, progress)
    token_bytes = [bytes([b]) for b in range(256)]
    for a, b in merges:
        token_bytes.append(token_bytes[a] + token_bytes[b])
    n = len(token_bytes)
    return BytePairTokenizer(token_bytes, merges, {s: n + i for i, s in enumerate(special_tokens)})
