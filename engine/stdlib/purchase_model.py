"""The repeat-purchase model of a client base (BG/NBD, Fader, Hardie and Lee 2005): while
active, a client buys at a rate drawn from a gamma distribution (shape r, scale 1/alpha,
per day); after each repeat purchase they leave with a probability drawn from a beta
distribution (a, b). Fitted by maximum likelihood on the base's purchase histories, it
says how likely each client is to be still active and how often they buy.

Pure Python (no numpy): the fit groups clients by (repeat purchases, weeks from first to
last purchase, weeks since the first purchase) and minimises the negative log-likelihood
by Nelder-Mead over the logarithms of the four parameters.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import add, mul, sub

BIN_DAYS = (7, 14, 28, 56, 91, 182)
"""Widths tried for grouping purchase histories, narrowest first: the first that leaves at
most MAX_GROUPS groups is used, which bounds the fit's time whatever the size of the base."""
MAX_GROUPS = 4000
MIN_CLIENTS = 30
"""A base with fewer clients, or with no repeat purchase at all, has no purchase model."""
EXP_LIMIT = 700.0
"""Where e^x under- or overflows a double, the functions give the limit (0 or 1), as their
SQL forms do (PostgreSQL raises on a float underflow)."""
LOG_BOUND = 12.0
"""The fit keeps each parameter within e^-12 .. e^12 (a flat likelihood has no optimum)."""

Key = tuple[int, int, int]
"""A client's purchase history as the fit reads it: (repeat purchases, days from the first
to the last purchase, days from the first purchase to as_of)."""


@dataclass(frozen=True)
class PurchaseModel:
    """Fitted parameters: purchase rates ~ gamma(r, alpha) per day, dropout ~ beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def of(cls, values: Sequence[float]) -> PurchaseModel:
        """The model of a profile value [r, alpha, a, b]; ValueError unless 4 positive numbers."""
        if len(values) != 4 or not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError(
                f"a purchase model is 4 positive numbers [r, alpha, a, b], got {list(values)}"
            )
        return cls(*(float(v) for v in values))

    def as_list(self) -> list[float]:
        """The profile value: [r, alpha, a, b]."""
        return [self.r, self.alpha, self.a, self.b]


def history_key(repeats: int, span_days: int, age_days: int) -> Key | None:
    """The one reading of a client's history for the fit: None unless 0 <= span <= age
    and span is 0 when there is no repeat purchase."""
    if repeats < 0 or span_days < 0 or age_days < span_days or (repeats == 0 and span_days):
        return None
    return (int(repeats), int(span_days), int(age_days))


def fit(histories: Mapping[Key, int]) -> PurchaseModel | None:
    """The maximum-likelihood model of a base (histories -> number of clients), or None when
    it has fewer than MIN_CLIENTS clients or no repeat purchase."""
    clients = sum(histories.values())
    if clients < MIN_CLIENTS or not any(k[0] > 0 for k in histories):
        return None
    groups = _grouped(histories)
    nll = _negative_log_likelihood(groups)
    start = _start(histories)
    best = _nelder_mead(nll, [math.log(v) for v in start])
    return PurchaseModel(*(math.exp(v) for v in best))


def _grouped(histories: Mapping[Key, int]) -> dict[tuple[int, float, float], int]:
    """Histories grouped into bins of whole weeks (or wider), each read at its bin's middle."""
    for width in BIN_DAYS:
        groups: Counter[tuple[int, float, float]] = Counter()
        for (x, span, age), n in histories.items():
            t = (age // width + 0.5) * width
            tx = min((span // width + 0.5) * width, t) if x else 0.0
            groups[(x, tx, t)] += n
        if len(groups) <= MAX_GROUPS:
            break
    return dict(groups)


def _start(histories: Mapping[Key, int]) -> list[float]:
    """A starting point: rate r/alpha at the base's mean repeat rate, a = b = 1."""
    n = sum(histories.values())
    repeats = sum(k[0] * c for k, c in histories.items())
    days = sum(k[2] * c for k, c in histories.items()) or 1
    rate = max(repeats / days, 1e-6)
    return [1.0, 1.0 / rate, 1.0, 1.0] if n else [1.0, 1.0, 1.0, 1.0]


def _negative_log_likelihood(
    groups: Mapping[tuple[int, float, float], int],
) -> Callable[[list[float]], float]:
    """The BG/NBD negative log-likelihood of grouped histories, as a function of the
    logarithms of (r, alpha, a, b); each evaluation is a few passes of builtins."""
    zero_t = [t for (x, _, t) in groups if x == 0]
    zero_n = [float(n) for (x, _, _), n in groups.items() if x == 0]
    zero_count = math.fsum(zero_n)
    rep = [(x, tx, t, n) for (x, tx, t), n in groups.items() if x > 0]
    xs = [g[0] for g in rep]
    xf = [float(x) for x in xs]
    txs = [g[1] for g in rep]
    ts = [g[2] for g in rep]
    ns = [float(g[3]) for g in rep]
    per_x: Counter[int] = Counter()
    for x, n in zip(xs, ns, strict=True):
        per_x[x] += int(n)
    log, lgamma, fsum = math.log, math.lgamma, math.fsum

    def nll(params: list[float]) -> float:
        """The negative log-likelihood at log-parameters `params` (inf outside the bounds)."""
        if any(abs(p) > LOG_BOUND for p in params):
            return math.inf
        r, alpha, a, b = (math.exp(p) for p in params)
        base = r * log(alpha)
        shared = base + lgamma(a + b) - lgamma(b) - lgamma(r)
        constants = zero_count * base + fsum(
            n * (shared + lgamma(r + x) + lgamma(b + x) - lgamma(a + b + x))
            for x, n in per_x.items()
        )
        zero = fsum(map(mul, zero_n, map(log, map(add, zero_t, repeat(alpha)))))
        rx = list(map(add, xf, repeat(r)))
        log_t = list(map(log, map(add, ts, repeat(alpha))))
        log_tx = map(log, map(add, txs, repeat(alpha)))
        odds = {x: log(a / (b + x - 1)) for x in per_x}
        z = map(add, map(odds.__getitem__, xs), map(mul, rx, map(sub, log_t, log_tx)))
        decay = fsum(map(mul, ns, map(mul, rx, log_t)))
        alive_or_left = fsum(map(mul, ns, map(_softplus, z)))
        return -(constants - r * zero - decay + alive_or_left)

    return nll


def _softplus(z: float) -> float:
    """log(1 + e^z) without overflow."""
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


def _nelder_mead(
    f: Callable[[list[float]], float], x0: list[float], *, tol: float = 1e-10, limit: int = 3000
) -> list[float]:
    """The minimum of `f` near `x0` by the Nelder-Mead simplex (deterministic: the same
    input gives the same point)."""
    n = len(x0)
    points = [list(x0)] + [[x0[j] + (0.7 if i == j else 0.0) for j in range(n)] for i in range(n)]
    values = [f(p) for p in points]
    evaluations = n + 1
    while evaluations < limit:
        order = sorted(range(n + 1), key=values.__getitem__)
        points, values = [points[i] for i in order], [values[i] for i in order]
        if abs(values[-1] - values[0]) <= tol * (abs(values[0]) + 1e-12):
            break
        centre = [math.fsum(p[j] for p in points[:-1]) / n for j in range(n)]
        worst = points[-1]

        def towards(
            k: float, worst: list[float] = worst, centre: list[float] = centre
        ) -> list[float]:
            """The point k times as far from the centre as the worst point, on its other side."""
            return [c + k * (c - w) for c, w in zip(centre, worst, strict=True)]

        reflected = towards(1.0)
        fr = f(reflected)
        evaluations += 1
        if fr < values[0]:
            expanded = towards(2.0)
            fe = f(expanded)
            evaluations += 1
            points[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            points[-1], values[-1] = reflected, fr
        else:
            contracted = towards(-0.5)
            fc = f(contracted)
            evaluations += 1
            if fc < values[-1]:
                points[-1], values[-1] = contracted, fc
            else:
                best = points[0]
                for i in range(1, n + 1):
                    points[i] = [b + 0.5 * (p - b) for b, p in zip(best, points[i], strict=True)]
                    values[i] = f(points[i])
                evaluations += n
    return points[min(range(n + 1), key=values.__getitem__)]


# -- one client, given the model ---------------------------------------------------------
def _check(repeats: int, span_days: int, age_days: int) -> None:
    """ValueError unless the three numbers are a purchase history (history_key)."""
    if history_key(repeats, span_days, age_days) is None:
        raise ValueError(
            f"not a purchase history: {repeats} repeat purchases over {span_days} days, "
            f"first purchase {age_days} days ago"
        )


def alive_odds_exponent(m: PurchaseModel, repeats: int, span_days: int, age_days: int) -> float:
    """log of the odds that a client with repeat purchases has left: log(a / (b + x - 1)) +
    (r + x) * log((alpha + T) / (alpha + t_x))."""
    return math.log(m.a / (m.b + repeats - 1)) + (m.r + repeats) * (
        math.log(m.alpha + age_days) - math.log(m.alpha + span_days)
    )


def probability_active(m: PurchaseModel, repeats: int, span_days: int, age_days: int) -> float:
    """P(the client has not left), given x repeat purchases, the last t_x days after the
    first, which was T days ago: 1 / (1 + [x > 0] * a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))."""
    _check(repeats, span_days, age_days)
    if repeats == 0:
        return 1.0
    z = alive_odds_exponent(m, repeats, span_days, age_days)
    if abs(z) >= EXP_LIMIT:  # beyond doubles: certainly left, or certainly not
        return 0.0 if z > 0 else 1.0
    return 1.0 / (1.0 + math.exp(z))


def yearly_rate(m: PurchaseModel, repeats: int, age_days: int, year_days: float) -> float:
    """Expected purchases a year while active: (r + x) / (alpha + T) per day, times a year."""
    if repeats < 0 or age_days < 0:
        raise ValueError(f"not a purchase history: {repeats} repeats, {age_days} days")
    return (m.r + repeats) / (m.alpha + age_days) * year_days


def yearly_survival(m: PurchaseModel, repeats: int, age_days: int, year_days: float) -> float:
    """P(an active client is still active a year later): (1 + rate / (a + b + x))^-a, the
    chance of no dropout over a year's purchases, with dropout chances beta(a, b + x)."""
    rate = yearly_rate(m, repeats, age_days, year_days)
    base = 1.0 + rate / (m.a + m.b + repeats)
    if m.a * math.log(base) >= EXP_LIMIT:  # below the smallest double: no chance left
        return 0.0
    return base**-m.a
