"""Confidence intervals, in Decimal, for comparing referred customers with the others.

- A share (k of n still buying): the Wilson score interval, which stays inside [0, 1] and
  behaves for small n and shares near 0 or 1.
- A difference of two shares: Newcombe's hybrid score interval (method 10), built from the
  two Wilson intervals.
- A mean (revenue per customer) and a difference of two means: the normal approximation,
  mean +- z * s / sqrt(n), with the sample standard deviation s.

z = 1.96 (95%). Every function returns None where the figure is undefined (no customers).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

Z = Decimal("1.96")
ONE = Decimal(1)


@dataclass(frozen=True)
class Interval:
    value: Decimal
    low: Decimal
    high: Decimal


def wilson(k: int, n: int, z: Decimal = Z) -> Interval | None:
    """The share k/n with its Wilson score interval (fractions of 1)."""
    if n <= 0:
        return None
    p = Decimal(k) / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * ((p * (1 - p) / n + z2 / (4 * n * n)).sqrt()) / (1 + z2 / n)
    return Interval(p, max(centre - half, Decimal(0)), min(centre + half, ONE))


def share_difference(k1: int, n1: int, k2: int, n2: int, z: Decimal = Z) -> Interval | None:
    """p1 - p2 with Newcombe's hybrid score interval."""
    a, b = wilson(k1, n1, z), wilson(k2, n2, z)
    if a is None or b is None:
        return None
    d = a.value - b.value
    low = d - ((a.value - a.low) ** 2 + (b.high - b.value) ** 2).sqrt()
    high = d + ((a.high - a.value) ** 2 + (b.value - b.low) ** 2).sqrt()
    return Interval(d, low, high)


@dataclass(frozen=True)
class Sample:
    """What a mean and its interval need: n, the sum and the sum of squares."""

    n: int = 0
    total: Decimal = Decimal(0)
    squares: Decimal = Decimal(0)

    @classmethod
    def of(cls, values: Sequence[Decimal]) -> "Sample":
        return cls(len(values), sum(values, Decimal(0)), sum((v * v for v in values), Decimal(0)))

    @property
    def mean(self) -> Decimal | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> Decimal | None:
        """The sample variance (n - 1 in the denominator); None below two values."""
        if self.n < 2:
            return None
        return max((self.squares - self.total * self.total / self.n) / (self.n - 1), Decimal(0))


def mean_interval(sample: Sample, z: Decimal = Z) -> Interval | None:
    if not sample.n:
        return None
    mean = sample.mean
    assert mean is not None
    if sample.variance is None:
        return Interval(mean, mean, mean)
    half = z * (sample.variance / sample.n).sqrt()
    return Interval(mean, mean - half, mean + half)


def mean_difference(a: Sample, b: Sample, z: Decimal = Z) -> Interval | None:
    """mean(a) - mean(b), +- z * sqrt(s_a^2/n_a + s_b^2/n_b) (Welch's standard error)."""
    if not a.n or not b.n:
        return None
    d = a.mean - b.mean  # type: ignore[operator]
    var = (a.variance or Decimal(0)) / a.n + (b.variance or Decimal(0)) / b.n
    half = z * var.sqrt()
    return Interval(d, d - half, d + half)
