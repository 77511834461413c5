"""Percentiles and medians, without numpy."""

import math
import statistics


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, interpolating linearly between the closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> dict | None:
    """Median, min and max of the repeats, or None when there is nothing to summarise."""
    numbers = [value for value in values if isinstance(value, int | float) and not math.isnan(value)]
    if not numbers:
        return None
    return {"median": statistics.median(numbers), "min": min(numbers), "max": max(numbers), "n": len(numbers)}
