"""Pseudonyms: the names analysts see instead of meter ids and households, as short keyed hashes.

The same key gives the same pseudonym everywhere (the API's exports and the notebooks), so an
analyst can join what she exports; without the key nobody can turn one back into a meter id.
"""

from __future__ import annotations

import hashlib


def pseudonym(value: str, *, key: str, prefix: str = "p") -> str:
    """A short keyed hash of ``value``.

    >>> pseudonym("m0002", key="anxin-demo-pseudonym-key")
    'p63580dfcd7'
    >>> pseudonym("7", key="anxin-demo-pseudonym-key", prefix="h")[:1]
    'h'
    """
    digest = hashlib.blake2b(value.encode(), key=key.encode(), digest_size=5)
    return prefix + digest.hexdigest()
