"""The sampling command line both packages share (``python -m babygpt.generate`` and
``python -m microgpt.generate``): the same flags, and the same check that a checkpoint carries
the tokenizer its text is decoded with."""

import argparse

from .char_tokenizer import CharTokenizer


def sampler_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The parser of a sampler: checkpoint, prompt, length, the decoding settings, seed and cache."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--checkpoint", required=True, help="a checkpoint folder (config.json + model.safetensors)")
    parser.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    parser.add_argument("--max-new-tokens", type=int, default=500)
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--min-p", type=float, default=0.0)
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same text")
    parser.add_argument("--no-cache", action="store_true", help="recompute the whole window at every step")
    return parser


def checkpoint_tokenizer(parser: argparse.ArgumentParser, checkpoint, config_json: dict) -> CharTokenizer:
    """The character tokenizer stored in a checkpoint's config.json; without one, the parser's error."""
    if "tokenizer" not in config_json:
        parser.error(f"{checkpoint} has no tokenizer in its config.json: sample from a checkpoint written "
                     f"by a trainer (python -m babygpt.train or python -m microgpt.train)")
    return CharTokenizer(config_json["tokenizer"]["chars"])
