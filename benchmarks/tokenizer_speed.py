"""Training and encoding speed of lmbase's byte-level BPE against Hugging Face `tokenizers`.

    LMBOOK_DATA_SEED=../shared/data python benchmarks/tokenizer_speed.py [--vocab-sizes 1000 4096 10000] [--repeats 3]

Prints, for Tiny Shakespeare (1.1 MB):
- the time to train a byte-level BPE tokenizer at each vocabulary size, ours (pure Python,
  one core) and `tokenizers`' BpeTrainer (Rust, all cores), and their ratio; both make the
  same merges, which the script checks;
- encoding throughput in MB/s for our trained tokenizer and GPT-2's, ours against
  `tokenizers` encoding the same text in one call (one thread) and line by line with
  `encode_batch` (all threads);
- the best of ``--repeats`` runs of each. No assertion is made about speed.
"""

import argparse
import json
import os
import platform
import time

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from lmbase.bpe_train import train_bpe
from lmbase.byte_alphabet import bytes_to_text
from lmbase.corpora import load_text
from lmbase.gpt2_tokenizer import END_OF_TEXT, gpt2_files, load_gpt2_tokenizer


def best_time(function, repeats: int) -> tuple[float, object]:
    """The shortest wall time of ``repeats`` calls, in seconds, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def train_reference(text: str, vocab_size: int) -> Tokenizer:
    """`tokenizers`' byte-level BPE trained on ``text`` exactly as :func:`train_bpe` trains."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator([text], trainer)
    return tok


def gpt2_reference() -> Tokenizer:
    vocab, merges = gpt2_files()
    tok = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([END_OF_TEXT])
    return tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[1000, 4096, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    text = load_text("tinyshakespeare")
    megabytes = len(text.encode("utf-8")) / 1e6
    lines = text.splitlines(keepends=True)
    print(f"Tiny Shakespeare: {megabytes:.3f} MB, {len(lines):,} lines; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n")

    print("Training byte-level BPE (seconds, best of {}):".format(args.repeats))
    print(f"{'vocab':>7} {'ours':>8} {'tokenizers':>11} {'ours / tokenizers':>18}  same merges")
    trained = None
    for vocab_size in args.vocab_sizes:
        ours_s, ours = best_time(lambda: train_bpe(text, vocab_size), args.repeats)
        ref_s, ref = best_time(lambda: train_reference(text, vocab_size), args.repeats)
        ref_merges = [tuple(m) for m in json.loads(ref.to_str())["model"]["merges"]]
        our_merges = [(bytes_to_text(ours.token_bytes[a]), bytes_to_text(ours.token_bytes[b])) for a, b in ours.merges]
        print(f"{vocab_size:>7} {ours_s:>8.2f} {ref_s:>11.2f} {ours_s / ref_s:>17.1f}x  {our_merges == ref_merges}")
        trained = (vocab_size, ours, ref)

    vocab_size, ours, ref = trained
    gpt2, gpt2_ref = load_gpt2_tokenizer(), gpt2_reference()
    print(f"\nEncoding all of Tiny Shakespeare (MB/s, best of {args.repeats}; ours keeps a word cache, "
          f"cleared before each run):")
    print(f"{'tokenizer':>14} {'ours':>8} {'tokenizers 1 call':>18} {'ratio':>7} {'encode_batch':>13} {'ratio':>7}  same tokens")
    for name, mine, theirs in [(f"BPE {vocab_size}", ours, ref), ("GPT-2", gpt2, gpt2_ref)]:
        def encode_ours():
            mine._cache.clear()
            return mine.encode(text)

        ours_s, ids = best_time(encode_ours, args.repeats)
        one_s, one = best_time(lambda: theirs.encode(text), args.repeats)
        batch_s, _ = best_time(lambda: theirs.encode_batch(lines), args.repeats)
        # Compare tokens, not ids: a trained `tokenizers` model numbers its tokens its own way.
        same = [bytes_to_text(mine.token_bytes[i]) for i in ids.tolist()] == one.tokens
        print(f"{name:>14} {megabytes / ours_s:>8.2f} {megabytes / one_s:>18.2f} {one_s / ours_s:>6.2f}x "
              f"{megabytes / batch_s:>13.2f} {batch_s / ours_s:>6.2f}x  {same}")
    print("\n(ratio = our speed / theirs: below 1 means ours is slower)")


if __name__ == "__main__":
    main()
