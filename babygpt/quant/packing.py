"""Codes of ``bits`` bits packed densely into bytes: two int4 codes per byte, eight 3-bit codes
per three bytes.

The codes' bits are laid end to end, least significant bit first, so that for int4 code ``2i``
is the low nibble of byte ``i`` and code ``2i + 1`` its high nibble (the usual layout). Widths
that divide 8 (8, 4 and 2 bits) fill whole bytes, and are packed and unpacked a byte at a time
(the fast path, which a quantized layer takes at every call); 3-bit codes straddle bytes and
go through a stream of single bits.
"""

import torch

from .formats import check_bits


def packed_size(count: int, bits: int) -> int:
    """Bytes that ``count`` codes of ``bits`` bits take packed (the last byte padded)."""
    return (count * bits + 7) // 8


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Codes (any shape) of uint8 in [0, 2**bits) -> (packed_size(codes.numel(), bits),) uint8."""
    check_bits(bits)
    codes = codes.reshape(-1).to(torch.int64)
    if codes.numel() and (codes.min() < 0 or codes.max() >= 2**bits):
        raise ValueError(f"codes must lie in [0, {2**bits}) for {bits} bits; they span "
                         f"[{int(codes.min())}, {int(codes.max())}]")
    if 8 % bits == 0:
        per_byte = 8 // bits
        codes = torch.cat([codes, codes.new_zeros(-codes.numel() % per_byte)])
        return (codes.reshape(-1, per_byte) << (bits * torch.arange(per_byte))).sum(1).to(torch.uint8)
    bit_stream = ((codes[:, None] >> torch.arange(bits)) & 1).reshape(-1)
    padding = packed_size(codes.numel(), bits) * 8 - bit_stream.numel()
    bit_stream = torch.cat([bit_stream, bit_stream.new_zeros(padding)]).reshape(-1, 8)
    return (bit_stream << torch.arange(8)).sum(dim=1).to(torch.uint8)


def unpack(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """The first ``count`` codes of ``bits`` bits in ``packed`` (uint8) -> (count,) uint8."""
    check_bits(bits)
    if packed.numel() != packed_size(count, bits):
        raise ValueError(f"{count} codes of {bits} bits take {packed_size(count, bits)} bytes, "
                         f"not {packed.numel()}: pass the count the codes were packed with")
    if 8 % bits == 0:
        shifts = bits * torch.arange(8 // bits, dtype=torch.uint8)
        return ((packed[:, None] >> shifts) & (2**bits - 1)).reshape(-1)[:count]
    bit_stream = ((packed.to(torch.int64)[:, None] >> torch.arange(8)) & 1).reshape(-1)
    bit_stream = bit_stream[: count * bits].reshape(count, bits)
    return (bit_stream << torch.arange(bits)).sum(dim=1).to(torch.uint8)
