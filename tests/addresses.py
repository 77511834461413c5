"""Addresses that parse to themselves: what the mail code may leave unparsed."""

import random

ATEXT = "aZ09!#$%&'*+/=?^_`{|}~-"  # every kind of character RFC 5322's atext allows


def plain_addresses(count: int, *, seed: int = 5) -> list[str]:
    """Dot-atom local parts at domains of letters, digits and hyphens."""
    rnd = random.Random(seed)

    def atoms(alphabet: str) -> str:
        runs = ("".join(rnd.choices(alphabet, k=rnd.randint(1, 4))) for _ in range(rnd.randint(1, 3)))
        return ".".join(runs)

    return [f"{atoms(ATEXT)}@{atoms('aZ09-')}" for _ in range(count)]
