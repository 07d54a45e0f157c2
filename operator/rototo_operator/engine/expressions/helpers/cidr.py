"""IP addresses and CIDR blocks with the reference's (Rust std) parsing rules.

Addresses: dotted-quad IPv4 without leading zeros, or IPv6 text (`::` shortening and a
trailing embedded IPv4 allowed) without a zone (`%eth0`). A block is `address/prefix`
(prefix 0-32 or 0-128, decimal, a leading `+` allowed as Rust's integer parser does) or
a bare address meaning that single host. IPv4 blocks never contain IPv6 addresses
(IPv4-mapped ones included) and vice versa.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from rototo_operator.engine.expressions.helpers import HelperError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Block = tuple[int, int, int]  # (version, network, mask)

_ADDRESS_CHARS = frozenset("0123456789abcdefABCDEF.:")


@lru_cache(maxsize=4096)
def parse_address(text: str) -> Address | None:
    """The address `text` names, or None when Rust's `IpAddr` parser would reject it."""
    if not text or not _ADDRESS_CHARS.issuperset(text):
        return None
    try:
        if ":" in text:
            return ipaddress.IPv6Address(text)
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def _parse_prefix(text: str) -> int | None:
    body = text[1:] if text.startswith("+") else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(body)
    return value if value <= 255 else None


@lru_cache(maxsize=4096)
def parse_block(text: str) -> Block | None:
    """(version, network, mask) for a block, or None when the reference rejects it."""
    address_text, slash, prefix_text = text.partition("/")
    prefix = _parse_prefix(prefix_text) if slash else None
    if slash and prefix is None:
        return None
    address = parse_address(address_text)
    if address is None:
        return None
    width = address.max_prefixlen
    if prefix is None:
        prefix = width
    if prefix > width:
        return None
    mask = ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1)
    return address.version, int(address) & mask, mask


def contains(block: Block, address: Address) -> bool:
    version, network, mask = block
    return address.version == version and (int(address) & mask) == network


def require_address(text: str) -> Address:
    address = parse_address(text)
    if address is None:
        raise HelperError("ip address is invalid: invalid IP address syntax")
    return address


def require_block(text: str) -> Block:
    block = parse_block(text)
    if block is None:
        raise HelperError(f"CIDR block is invalid: {text}")
    return block
