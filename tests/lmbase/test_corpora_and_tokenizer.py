"""Corpora by name, the character tokenizer, the split and the batch sampler."""

import numpy as np
import pytest

from lmbase.batches import BatchSampler, train_val_split
from lmbase.char_tokenizer import CharTokenizer
from lmbase.corpora import CORPORA, load_text


def test_tiny_shakespeare_loads_and_has_65_characters():
    text = load_text("tinyshakespeare")
    assert len(text.encode("utf-8")) == CORPORA["tinyshakespeare"].size
    assert CharTokenizer.from_text(text).vocab_size == 65
    assert text.startswith("First Citizen:")


def test_the_text_before_the_shrew_is_every_play_before_it_with_the_same_characters():
    text, before = load_text("tinyshakespeare"), load_text("tinyshakespeare-before-shrew")
    assert text.startswith(before) and text[len(before):].startswith("SLY:\nI'll pheeze you")
    assert 0.86 < len(before) / len(text) < 0.87 and "PETRUCHIO" not in before and "PETRUCHIO" in text
    assert CharTokenizer.from_text(before).chars == CharTokenizer.from_text(text).chars


def test_unknown_corpus_names_the_known_ones():
    with pytest.raises(KeyError, match="tinyshakespeare"):
        load_text("shakespeare-complete")


def test_char_tokenizer_round_trips_and_orders_ids_by_character():
    tokenizer = CharTokenizer.from_text("hello world")
    assert tokenizer.chars == sorted(set("hello world"))
    ids = tokenizer.encode("hello world")
    assert ids.dtype == np.int64 and ids.tolist() == [tokenizer.chars.index(c) for c in "hello world"]
    assert tokenizer.decode(ids) == "hello world"


def test_char_tokenizer_errors_name_the_value_and_the_fix():
    tokenizer = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"'z' \(at position 2\).*3-character vocabulary"):
        tokenizer.encode("abz")
    with pytest.raises(ValueError, match=r"token id 3 is outside the vocabulary \[0, 3\)"):
        tokenizer.decode([0, 3])
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")
    with pytest.raises(TypeError, match=r"encode takes text \(a str\), got bytes of length 3: decode it first"):
        tokenizer.encode(b"abc")


def test_split_is_contiguous_and_checks_its_fraction():
    train, val = train_val_split(np.arange(100), 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    with pytest.raises(ValueError, match="val_fraction=1.5"):
        train_val_split(np.arange(100), 1.5)


def test_batches_are_next_token_pairs_and_deterministic():
    ids = np.arange(1000)
    x, y = BatchSampler(ids, batch_size=8, context=16, seed=3).sample()
    assert x.shape == y.shape == (8, 16)
    assert np.array_equal(y, x + 1)  # on 0..999 the next token is the id plus one
    x2, _ = BatchSampler(ids, batch_size=8, context=16, seed=3).sample()
    x3, _ = BatchSampler(ids, batch_size=8, context=16, seed=4).sample()
    assert np.array_equal(x, x2) and not np.array_equal(x, x3)


def test_batches_reach_both_ends_of_the_text():
    x, y = BatchSampler(np.arange(20), batch_size=2000, context=4, seed=0).sample()
    assert x.min() == 0 and y.max() == 19


def test_batch_sampler_refuses_a_context_as_long_as_the_text():
    with pytest.raises(ValueError, match="context=10"):
        BatchSampler(np.arange(10), batch_size=1, context=10)
