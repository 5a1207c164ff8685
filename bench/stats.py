"""Medians with their range, and ratios taken pair by pair within a round."""

from __future__ import annotations

import numpy as np


def summary(values) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": float(np.median(values)), "min": float(min(values)),
            "max": float(max(values)), "n": len(values)}


def paired_ratios(numerators: list, denominators: list) -> dict | None:
    """a_r / b_r for every round r in which both ran (they ran back to back), summarised."""
    ratios = [a / b for a, b in zip(numerators, denominators)
              if a is not None and b is not None and b > 0]
    return summary(ratios)
