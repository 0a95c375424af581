"""GPT-2's printable byte alphabet: each of the 256 byte values shown as one visible character.

GPT-2's ``vocab.json`` and ``merges.txt`` write a token's bytes as text. Bytes that are
printable Latin-1 characters stand for themselves; the other 68 (controls, the space, and a
few others) are shifted to U+0100 and up, so the space byte 0x20 is written ``"Ġ"`` and the
newline 0x0A ``"Ċ"``. Every token therefore prints as a short string without spaces, which is
what lets ``merges.txt`` separate a pair with one space. Our own tokenizer files use the same
alphabet, so they read like GPT-2's.
"""

import functools


@functools.cache
def byte_to_char() -> tuple[str, ...]:
    """``byte_to_char()[b]`` is the character that stands for byte ``b`` (0..255)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = {}
    shifted = 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + shifted)
            shifted += 1
    return tuple(chars[b] for b in range(256))


@functools.cache
def char_to_byte() -> dict[str, int]:
    """The inverse of :func:`byte_to_char`: character -> byte value."""
    return {c: b for b, c in enumerate(byte_to_char())}


def bytes_to_text(data: bytes) -> str:
    """A token's bytes written in the printable alphabet: ``b" the"`` -> ``"Ġthe"``."""
    table = byte_to_char()
    return "".join(table[b] for b in data)


def text_to_bytes(text: str) -> bytes:
    """The bytes a printable-alphabet string stands for: ``"Ġthe"`` -> ``b" the"``.

    Raises ValueError naming the first character outside the alphabet.
    """
    table = char_to_byte()
    try:
        return bytes(table[c] for c in text)
    except KeyError as error:
        raise ValueError(
            f"character {error.args[0]!r} in {text!r} is not in GPT-2's byte alphabet: a token "
            f"string must be written with byte_to_char(), as vocab.json and merges.txt are"
        ) from None
