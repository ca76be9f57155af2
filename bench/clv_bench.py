"""Issue 12 item 1: how well the shipped pack's lifetime value ranks clients by what they
spend next, from a purchase history alone, beside BG/NBD + Gamma-Gamma fitted by the
`lifetimes` library on the same calibration data.

Two bases, each split at a calibration date (facts computed at that date, from the
transactions up to it) and a holdout period after it (what each client actually spent):
- generated: the sample CRM (tierwise.adapters.sample_crm, purchases from a BG/NBD
  process with known parameters), without dirty rows, one year of holdout; the pack's
  fitted purchase model is also compared with the known parameters (individual clients);
- CDNOW: the real purchase log shipped inside `lifetimes` (23,570 customers, 1997-1998),
  calibration to 1997-09-30, holdout to 1998-06-30, as in Fader, Hardie and Lee (2005).
Per base: Spearman rank correlation of each prediction with the actual holdout spend over
the clients who had bought by the calibration date, with a bootstrap 95% interval of the
difference (pack - BG/NBD+GG). Purchases are counted per day (several orders on one day
are one purchase), as lifetimes counts them.

    pip install -r bench/requirements.txt
    python -m bench.clv_bench [--clients 20000] [--seeds 1,2,3] [--bootstrap 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from tierwise import Engine
from tierwise.adapters.sample_crm import PURCHASES, SAMPLE_END, generate

ROOT = Path(__file__).resolve().parents[1]
YEAR = 365.25
MONTHLY_DISCOUNT = 1.10 ** (1 / 12) - 1
"""The pack's 10% a year, as the monthly rate lifetimes' customer_lifetime_value takes."""


@dataclass(frozen=True)
class Split:
    """A base's transactions (client, day, amount; one row a client and day), the
    calibration date and the end of the holdout period."""

    name: str
    tx: pd.DataFrame
    calibration: dt.date
    end: dt.date
    kinds: pd.Series | None = None


def generated(clients: int, seed: int) -> Split:
    """The sample CRM's paid orders, calibrated a year before its end."""
    with tempfile.TemporaryDirectory() as tmp:
        path = generate(Path(tmp) / "crm.db", clients=clients, seed=seed, dirty_share=0)
        with sqlite3.connect(path) as conn:
            orders = pd.read_sql_query(
                "SELECT client_id AS client, ordered_at AS day, amount FROM orders"
                " WHERE status = 'paid'",
                conn,
            )
            kinds = pd.read_sql_query("SELECT id, client_type FROM clients", conn)
    orders["day"] = pd.to_datetime(orders["day"]).dt.date
    return Split(
        f"generated, {clients:,} clients, seed {seed}",
        _daily(orders),
        SAMPLE_END - dt.timedelta(days=365),
        SAMPLE_END,
        kinds.set_index("id")["client_type"],
    )


def cdnow() -> Split:
    """CDNOW's master log, as shipped inside lifetimes (no download)."""
    path = Path(str(files("lifetimes.datasets") / "CDNOW_master.txt"))
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        skiprows=1,
        header=None,
        names=["client", "day", "cds", "amount"],
        dtype=str,
    )
    raw["day"] = pd.to_datetime(raw["day"], format="%Y%m%d").dt.date
    raw["amount"] = raw["amount"].astype(float)
    raw["client"] = raw["client"].astype(int)
    return Split(
        "CDNOW (23,570 customers)", _daily(raw), dt.date(1997, 9, 30), dt.date(1998, 6, 30)
    )


def _daily(tx: pd.DataFrame) -> pd.DataFrame:
    """One purchase a client and day; days that sum to nothing (CDNOW has $0 rows) are none."""
    days = tx.groupby(["client", "day"], as_index=False)["amount"].sum()
    return days[days["amount"] > 0]


def facts_at(tx: pd.DataFrame, as_of: dt.date) -> list[dict[str, Any]]:
    """Each buyer's inputs at `as_of`, as the sample mapping computes them (windows of
    365 and 730 days ending on as_of), with no cost, ticket, survey or churn score."""
    seen = tx[tx["day"] <= as_of]
    out: list[dict[str, Any]] = []
    for client, rows in seen.groupby("client"):
        days, amounts = rows["day"].to_numpy(), rows["amount"].to_numpy()
        age = np.array([(as_of - d).days for d in days])
        in12, in24 = age < 365, age < 730
        out.append(
            {
                "client_id": str(client),
                "first_purchase_at": min(days),
                "last_purchase_at": max(days),
                "orders_total": len(days),
                "orders_12m": int(in12.sum()),
                "revenue_12m": float(amounts[in12].sum()),
                "revenue_24m": float(amounts[in24].sum()),
                "revenue_total": float(amounts.sum()),
                "min_order_amount": float(amounts.min()),
            }
        )
    return out


def pack_clv(facts: list[dict[str, Any]], as_of: dt.date) -> tuple[pd.Series, list[float]]:
    """The shipped pack's lifetime value of each client, and its fitted purchase model."""
    engine = Engine.from_path(ROOT / "rules")
    profile = engine.profile(facts, as_of)
    values = {}
    for f in facts:
        derived, errors = engine.derive(f, as_of, profile=profile)
        values[int(f["client_id"])] = None if errors else derived["clv"]
    return pd.Series(values, dtype=float), list(profile.values["purchase_model"] or [])


def lifetimes_predictions(
    tx: pd.DataFrame, as_of: dt.date, holdout_days: int
) -> tuple[pd.Series, pd.Series, dict[str, float]]:
    """BG/NBD + Gamma-Gamma (lifetimes) fitted on the calibration transactions: the
    expected spend over the holdout period, the 5-year CLV at 10% a year, the parameters."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    seen = tx[tx["day"] <= as_of].copy()
    seen["day"] = pd.to_datetime(seen["day"])
    summary = summary_data_from_transaction_data(
        seen,
        "client",
        "day",
        monetary_value_col="amount",
        observation_period_end=pd.Timestamp(as_of),
        freq="D",
    )
    bgf = BetaGeoFitter(penalizer_coef=0.0)
    bgf.fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[summary["frequency"] > 0]
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    ggf.fit(repeat["frequency"], repeat["monetary_value"])
    purchases = bgf.conditional_expected_number_of_purchases_up_to_time(
        holdout_days, summary["frequency"], summary["recency"], summary["T"]
    )
    spend = ggf.conditional_expected_average_profit(summary["frequency"], summary["monetary_value"])
    clv = ggf.customer_lifetime_value(
        bgf,
        summary["frequency"],
        summary["recency"],
        summary["T"],
        summary["monetary_value"],
        time=60,
        discount_rate=MONTHLY_DISCOUNT,
        freq="D",
    )
    params = {k: float(v) for k, v in bgf.params_.items()}
    return purchases * spend, clv, params


def lifetimes_gamma_gamma(split: Split) -> tuple[float, float, float]:
    """lifetimes' Gamma-Gamma parameters (p, q, v) on a split's calibration data: q <= 1
    means the fit found no finite mean order value for the base as one population."""
    from lifetimes import GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    seen = split.tx[split.tx["day"] <= split.calibration].copy()
    seen["day"] = pd.to_datetime(seen["day"])
    summary = summary_data_from_transaction_data(
        seen,
        "client",
        "day",
        monetary_value_col="amount",
        observation_period_end=pd.Timestamp(split.calibration),
        freq="D",
    )
    repeat = summary[summary["frequency"] > 0]
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    ggf.fit(repeat["frequency"], repeat["monetary_value"])
    return ggf.params_["p"], ggf.params_["q"], ggf.params_["v"]


def holdout_spend(tx: pd.DataFrame, start: dt.date, end: dt.date) -> pd.Series:
    """Each client's spend after `start`, up to `end`."""
    after = tx[(tx["day"] > start) & (tx["day"] <= end)]
    return after.groupby("client")["amount"].sum()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (ties at their mean rank)."""
    return float(spearmanr(a, b).statistic)


def bootstrap_difference(
    ours: np.ndarray, theirs: np.ndarray, actual: np.ndarray, rounds: int, seed: int
) -> tuple[float, float]:
    """A 95% interval of spearman(ours) - spearman(theirs), resampling clients."""
    rng = np.random.default_rng(seed)
    n = len(actual)
    diffs = []
    for _ in range(rounds):
        i = rng.integers(0, n, n)
        diffs.append(spearman(ours[i], actual[i]) - spearman(theirs[i], actual[i]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def evaluate(split: Split, rounds: int) -> dict[str, Any]:
    """The rank correlations of one split, and the fitted parameters."""
    started = time.perf_counter()
    facts = facts_at(split.tx, split.calibration)
    ours, model = pack_clv(facts, split.calibration)
    pack_seconds = time.perf_counter() - started
    holdout_days = (split.end - split.calibration).days
    expected, clv, params = lifetimes_predictions(split.tx, split.calibration, holdout_days)
    actual = holdout_spend(split.tx, split.calibration, split.end)
    clients = ours.index
    table = pd.DataFrame(
        {
            "ours": ours,
            "bg_spend": expected.reindex(clients),
            "bg_clv": clv.reindex(clients),
            "actual": actual.reindex(clients).fillna(0.0),
        }
    ).dropna()
    if split.kinds is not None:
        table["bg_clv_by_kind"] = _by_kind(split, holdout_days).reindex(table.index)
    a = table["actual"].to_numpy()
    result = {
        "split": split.name,
        "clients": len(table),
        "buyers_after": int((a > 0).sum()),
        "pack": spearman(table["ours"].to_numpy(), a),
        "bg_clv": spearman(table["bg_clv"].to_numpy(), a),
        "bg_spend": spearman(table["bg_spend"].to_numpy(), a),
        "model": model,
        "lifetimes": params,
        "pack_seconds": pack_seconds,
        "bg_clv_by_kind": (
            spearman(table["bg_clv_by_kind"].to_numpy(), a) if "bg_clv_by_kind" in table else None
        ),
    }
    result["ci"] = bootstrap_difference(
        table["ours"].to_numpy(), table["bg_clv"].to_numpy(), a, rounds, 7
    )
    return result


def _by_kind(split: Split, holdout_days: int) -> pd.Series:
    """BG/NBD + Gamma-Gamma fitted on each kind of client (individuals, businesses) apart:
    a baseline that knows the segments the generator draws from."""
    assert split.kinds is not None
    parts = []
    for kind in split.kinds.unique():
        members = split.kinds[split.kinds == kind].index
        tx = split.tx[split.tx["client"].isin(members)]
        parts.append(lifetimes_predictions(tx, split.calibration, holdout_days)[1])
    return pd.concat(parts)


def recovery(clients: int, seed: int) -> dict[str, Any]:
    """The pack's fitted model against the known parameters, on the individual clients of
    a generated base (their process is PURCHASES['individual']), at the base's end."""
    split = generated(clients, seed)
    assert split.kinds is not None
    individuals = split.kinds[split.kinds == "individual"].index
    tx = split.tx[split.tx["client"].isin(individuals)]
    _, model = pack_clv(facts_at(tx, split.end), split.end)
    _, _, params = lifetimes_predictions(tx, split.end, 365)
    known = PURCHASES["individual"]
    return {
        "known": [known.r, known.alpha * YEAR, known.a, known.b],
        "pack": model,
        "lifetimes": [params["r"], params["alpha"], params["a"], params["b"]],
    }


def main() -> None:
    """Measure every split and print the tables of bench/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    splits = [generated(args.clients, int(s)) for s in args.seeds.split(",")] + [cdnow()]
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, bootstrap {args.bootstrap} rounds\n")
    print(
        "| base | clients | bought in holdout | pack CLV | BG/NBD+GG CLV | BG/NBD+GG holdout"
        " spend | BG/NBD+GG CLV per client type | pack - BG/NBD+GG CLV (95% CI) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    results = [evaluate(s, args.bootstrap) for s in splits]
    for r in results:
        low, high = r["ci"]
        by_kind = "-" if r["bg_clv_by_kind"] is None else f"{r['bg_clv_by_kind']:.4f}"
        print(
            f"| {r['split']} | {r['clients']:,} | {r['buyers_after']:,} | {r['pack']:.4f} | "
            f"{r['bg_clv']:.4f} | {r['bg_spend']:.4f} | {by_kind} | "
            f"{r['pack'] - r['bg_clv']:+.4f} ({low:+.4f} .. {high:+.4f}) |"
        )
    print("\nfitted purchase models [r, alpha (days), a, b]:")
    for r in results:
        pack = ", ".join(f"{v:.3f}" for v in r["model"])
        theirs = ", ".join(f"{r['lifetimes'][k]:.3f}" for k in ("r", "alpha", "a", "b"))
        print(f"  {r['split']}: pack [{pack}]  lifetimes [{theirs}]  ({r['pack_seconds']:.1f} s)")
    rec = recovery(args.clients, int(args.seeds.split(",")[0]))
    gg = lifetimes_gamma_gamma(splits[0])
    print(
        f"\nlifetimes' Gamma-Gamma on {splits[0].name}: p={gg[0]:.3f} q={gg[1]:.3f} v={gg[2]:.3f}"
    )
    print("\nknown parameters of the generated individuals, and the fits at the base's end:")
    for name in ("known", "pack", "lifetimes"):
        print(f"  {name:<9} [{', '.join(f'{v:.3f}' for v in rec[name])}]")


if __name__ == "__main__":
    main()
