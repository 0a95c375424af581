"""GPT-2's tokenizer from its own files gives exactly the ids Hugging Face `tokenizers` gives
when built from the same two files."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from lmbase import download
from lmbase.corpora import load_text
from lmbase.gpt2_tokenizer import (
    GPT2_ENCODER_JSON,
    GPT2_MERGES_TXT,
    GPT2_VOCAB_BPE,
    MERGES_HEADER,
    gpt2_files,
    load_gpt2_tokenizer,
    read_merges,
    tokenizer_from_files,
)

EOT = "<|endoftext|>"

HARD = [
    "",
    " ",
    "\n",
    "  hello   world  ",
    "Hello\n\n\nworld\t\t tab",
    "I'm don't we'll they're I'VE you'd 'tis rock'n'roll",
    "1234567890 3.14159 1,000,000 ½ ² Ⅻ",
    "héllo wörld naïve café 日本語 한국어 العربية",
    "🙂👍🏽 👨‍👩‍👧 a\u0301 e\u0308",
    f"{EOT}",
    f"before{EOT}after{EOT}{EOT} end",
    "<|endoftext",
    "\x00\x1c\x85\u2028\u3000\ufeff zero-width\u200b",
    "!!!??? ...,,, $$$ --- ___ @@@",
    "     leading and trailing     ",
]


@pytest.fixture(scope="module")
def gpt2():
    return load_gpt2_tokenizer()


@pytest.fixture(scope="module")
def reference():
    vocab, merges = gpt2_files()
    tok = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOT])
    return tok


def test_the_vocabulary_is_gpt2s(gpt2):
    assert gpt2.vocab_size == 50257
    assert len(gpt2.merges) == 50000
    assert gpt2.special_token_id(EOT) == 50256
    assert gpt2.encode("Hello world").tolist() == [15496, 995]  # GPT-2's well-known ids


@pytest.mark.parametrize("text", HARD)
def test_hard_strings_give_gpt2s_ids(gpt2, reference, text):
    ids = gpt2.encode(text).tolist()
    assert ids == reference.encode(text).ids
    assert gpt2.decode(ids) == text
    assert reference.decode(ids, skip_special_tokens=False) == text


def test_all_of_tiny_shakespeare_gives_gpt2s_ids(gpt2, reference):
    text = load_text("tinyshakespeare")
    ids = gpt2.encode(text).tolist()
    assert len(ids) == 338_025
    assert ids == reference.encode(text).ids
    assert gpt2.decode(ids) == text


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=80))
def test_any_text_gives_gpt2s_ids(gpt2, reference, text):
    assert gpt2.encode(text).tolist() == reference.encode(text).ids


def test_the_seed_copy_without_header_becomes_a_verified_vocab_bpe(tmp_path, monkeypatch):
    # A seed folder as the course's data README describes it: vocab.json, and merges.txt
    # without its "#version" line. With the network blocked, vocab.bpe is rebuilt from it.
    vocab, merges = gpt2_files()
    seed = tmp_path / "seed"
    (seed / "gpt2").mkdir(parents=True)
    (seed / GPT2_ENCODER_JSON.relpath).write_bytes(vocab.read_bytes())
    (seed / GPT2_MERGES_TXT.relpath).write_bytes(merges.read_bytes()[len(MERGES_HEADER) :])
    monkeypatch.setenv(download.SEED_VARIABLE, str(seed))
    monkeypatch.setenv(download.CACHE_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setattr(download.urllib.request, "urlopen", _offline)
    vocab, merges = gpt2_files()
    assert vocab == seed / GPT2_ENCODER_JSON.relpath
    assert merges == tmp_path / "cache" / GPT2_VOCAB_BPE.relpath
    assert merges.read_bytes().startswith(MERGES_HEADER)
    assert download.sha256_of(merges) == GPT2_VOCAB_BPE.sha256
    headerless = read_merges(seed / GPT2_MERGES_TXT.relpath)
    assert read_merges(merges) == headerless and len(headerless) == 50000
    assert headerless[0] == ("Ġ", "t")


def _offline(*args, **kwargs):
    raise OSError("no network here")


def test_without_seed_or_network_the_error_names_the_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv(download.SEED_VARIABLE, raising=False)
    monkeypatch.setenv(download.CACHE_VARIABLE, str(tmp_path))
    monkeypatch.setattr(download.urllib.request, "urlopen", _offline)
    with pytest.raises(download.DataFileError, match=r"gpt2/vocab.json is not available.*LMBOOK_DATA_SEED"):
        gpt2_files()


def test_mismatched_files_are_refused(tmp_path):
    vocab, _ = gpt2_files()
    bad = tmp_path / "merges.txt"
    bad.write_text("#version: 0.2\nĠ t\nqqqq zzzz\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"merge 1 \('qqqq' 'zzzz'\).*do not belong together"):
        tokenizer_from_files(vocab, bad)
    bad.write_text("Ġ t\nonly-one-token\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: 'only-one-token' is not a merge"):
        tokenizer_from_files(vocab, bad)
