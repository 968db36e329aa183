"""Invented, Norwegian-sounding glacier names for procedural landscapes ("<stem>breen", "<stem>fonna")."""

from __future__ import annotations

import numpy as np

_NAME_STEMS = (
    "Alke", "Bjørne", "Blå", "Botn", "Brede", "Dverg", "Egge", "Fjell", "Frost", "Gåse", "Grå",
    "Hamar", "Havhest", "Horn", "Hval", "Isbjørn", "Kam", "Kjerr", "Krykkje", "Kval", "Kvit",
    "Lomvi", "Lyng", "Måke", "Mose", "Myr", "Nut", "Pigg", "Polarrev", "Rabbe", "Rein", "Rype",
    "Rød", "Sand", "Sel", "Skar", "Skua", "Snøspurv", "Sol", "Stein", "Storm", "Svart", "Teist",
    "Tind", "Tjørn", "Ulv", "Vind", "Ærfugl", "Ørn", "Øks", "Agat", "Berg", "Bratt", "Dal",
    "Elve", "Flat", "Glimme", "Holme", "Kalv", "Lang",
)  # fmt: skip
_NAME_PREFIXES = ("", "Austre ", "Vestre ", "Nordre ", "Søre ", "Midtre ", "Indre ", "Ytre ")


def glacier_names(rng: np.random.Generator, kinds: list[str]) -> list[str]:
    """Unique invented names, ``...fonna`` for ice caps and ``...breen`` for the rest."""
    order = rng.permutation(len(_NAME_STEMS))
    names = []
    for i, kind in enumerate(kinds):
        stem = _NAME_STEMS[order[i % len(_NAME_STEMS)]]
        prefix = _NAME_PREFIXES[(i // len(_NAME_STEMS)) % len(_NAME_PREFIXES)]
        repeat = i // (len(_NAME_STEMS) * len(_NAME_PREFIXES))
        suffix = "fonna" if kind == "ice_cap" else "breen"
        names.append(f"{prefix}{stem}{suffix}" + (f" {repeat + 1}" if repeat else ""))
    return names
