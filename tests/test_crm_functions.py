"""The CRM fact functions: hand-computed values, edge cases, and SQL forms equal to Python."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tierwise import Engine
from tierwise.adapters.db import connect
from tierwise.plugins.manager import function_registry
from tierwise.stdlib import crm as f
from tierwise.stdlib import sql as fsql

AS_OF = dt.date(2026, 1, 1)


# -- hand-computed values ----------------------------------------------------------------
def test_lifetime_value_finite_matches_the_sum_written_out() -> None:
    # q = 0.8 / 1.1; 100 * (8/11 + 64/121 + 512/1331) = 72.727 + 52.893 + 38.467
    assert f.lifetime_value(100, 0.8, 0.1, 3) == pytest.approx(164.08715251690458)
    assert f.lifetime_value(100, 0.8, 0.1, 3) == pytest.approx(
        sum(100 * 0.8**t / 1.1**t for t in range(1, 4))
    )


def test_lifetime_value_edge_cases() -> None:
    assert f.lifetime_value(100, 0.8, 0.1, 0) == 0
    assert f.lifetime_value(100, 1, 0, 5) == 500  # q = 1: no decay, n margins
    assert f.lifetime_value(100, 0, 0.1, 5) == 0  # nobody stays
    assert f.lifetime_value(-50, 0.5, 0, 2) == pytest.approx(-50 * 0.5 - 50 * 0.25)
    # a finite horizon never diverges, even with retention above 1 + d (net revenue retention)
    assert f.lifetime_value(100, 1.2, 0.1, 2) == pytest.approx(100 * (1.2 / 1.1 + (1.2 / 1.1) ** 2))
    with pytest.raises(ValueError, match="horizon"):
        f.lifetime_value(100, 0.8, 0.1, -1)
    with pytest.raises(ValueError, match="retention"):
        f.lifetime_value(100, -0.1, 0.1, 3)
    with pytest.raises(ValueError, match="discount"):
        f.lifetime_value(100, 0.8, -1, 3)


def test_lifetime_value_infinite_and_divergence() -> None:
    assert f.lifetime_value_infinite(100, 0.8, 0.1) == pytest.approx(100 * 0.8 / 0.3)
    # the finite sum tends to the infinite form
    assert f.lifetime_value(100, 0.8, 0.1, 400) == pytest.approx(
        f.lifetime_value_infinite(100, 0.8, 0.1)
    )
    for r, d in ((1, 0), (1.1, 0.1), (1.5, 0.1)):
        with pytest.raises(ValueError, match="diverges"):
            f.lifetime_value_infinite(100, r, d)


def test_relationship_profit_and_satisfaction_trend() -> None:
    assert f.relationship_profit(12000, 7000, 1500) == 3500
    assert f.relationship_profit(0, 0, 120) == -120  # a prospect costs the relationship only
    assert f.satisfaction_trend(3.5, 4.25) == -0.75


def test_purchase_frequency() -> None:
    # 6 purchases in the 184 days since 2025-07-01: 6 * 365.25 / 184
    assert f.purchase_frequency(6, dt.date(2025, 7, 1), as_of=AS_OF) == pytest.approx(11.910326)
    assert f.purchase_frequency(12, dt.date(2025, 1, 1), as_of=AS_OF) == pytest.approx(
        12 * 365.25 / 365
    )
    assert f.purchase_frequency(0, dt.date(2025, 1, 1), as_of=AS_OF) == 0  # no purchases
    # a client who bought yesterday is measured over 30 days, not over one
    assert f.purchase_frequency(1, dt.date(2025, 12, 31), as_of=AS_OF) == pytest.approx(365.25 / 30)
    with pytest.raises(ValueError, match="after the evaluation date"):
        f.purchase_frequency(1, dt.date(2026, 2, 1), as_of=AS_OF)
    with pytest.raises(ValueError, match="negative"):
        f.purchase_frequency(-1, dt.date(2025, 2, 1), as_of=AS_OF)


def test_recency_and_tenure() -> None:
    assert f.recency(dt.date(2025, 12, 1), as_of=AS_OF) == 31
    assert f.recency(dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC), as_of=AS_OF) == 1
    assert f.recency(AS_OF, as_of=AS_OF) == 0
    assert f.tenure(dt.date(2024, 1, 1), as_of=AS_OF) == pytest.approx(731 / 365.25)
    for fn in (f.recency, f.tenure):
        with pytest.raises(ValueError, match="2026-03-01 is after the evaluation date 2026-01-01"):
            fn(dt.date(2026, 3, 1), as_of=AS_OF)


def test_bands_and_ranks_against_cut_points() -> None:
    cuts = (1.0, 2.0, 4.0, 8.0)
    assert [f.band(v, cuts) for v in (0, 1, 2, 3, 4, 5, 8, 100)] == [1, 1, 2, 3, 3, 4, 4, 5]
    assert [6 - f.band(d, (10.0, 30.0, 90.0, 180.0)) for d in (0, 10, 11, 60, 180, 400)] == [
        5,
        5,
        4,
        3,
        2,
        1,
    ]
    assert f.band(5, (3.0, 3.0, 3.0, 3.0)) == 5  # tied cut points (many equal values)
    assert f.rank(3, (3.0, 3.0, 3.0)) == 0
    with pytest.raises(ValueError, match="ascending"):
        f.band(1, (4.0, 3.0, 2.0, 1.0))


def test_observed_days() -> None:
    assert f.observed_days(dt.date(2025, 12, 2), 365, as_of=AS_OF) == 30
    assert f.observed_days(dt.date(2020, 1, 1), 365, as_of=AS_OF) == 365
    with pytest.raises(ValueError, match="after the evaluation date"):
        f.observed_days(dt.date(2026, 2, 1), 365, as_of=AS_OF)


@pytest.mark.parametrize(
    ("args", "stage"),
    [
        ((None, None, None, None), "prospect"),
        ((None, 10, 500, 100), None),  # bought, since when unknown: not a prospect
        ((None, 400, 500, 100), "lapsed"),
        ((1100, 400, 500, 500), "lapsed"),
        ((1100, 365, 500, 500), "lapsed"),  # outside the window (as_of - 365, as_of]
        ((1100, 364, 500, 500), "mature"),
        ((200, 20, 500, 0), "new"),
        ((729, 20, 1200, 100), "new"),  # the year before the last not fully observed
        ((730, 20, 1200, 1000), "growing"),
        ((1100, 20, 1000, 0), "growing"),
        ((1100, 20, 1199, 1000), "mature"),
        ((1100, 20, 0, 0), "mature"),
        ((1100, 20, 800, 1000), "declining"),
        ((1100, 20, 801, 1000), "mature"),
        ((1100, None, 800, 1000), None),
        ((1100, 20, None, 1000), None),
    ],
)
def test_lifecycle(args: tuple[Any, ...], stage: str | None) -> None:
    assert f.lifecycle(*args) == stage


def test_yearly_purchases() -> None:
    # a client of more than a year: the purchases of the 12-month window
    assert f.yearly_purchases(6, dt.date(2024, 1, 1), as_of=AS_OF) == 6
    # one purchase is never a frequent buyer, however recent
    assert f.yearly_purchases(1, dt.date(2025, 12, 31), as_of=AS_OF) == 0
    # a young client: repeats per year over at least 90 days; 2 repeats in 30 days
    assert f.yearly_purchases(3, dt.date(2025, 12, 2), as_of=AS_OF) == pytest.approx(
        2 * 365.25 / 90
    )
    assert f.yearly_purchases(3, dt.date(2025, 7, 1), as_of=AS_OF) == pytest.approx(
        2 * 365.25 / 184
    )
    with pytest.raises(ValueError, match="negative"):
        f.yearly_purchases(-1, dt.date(2025, 2, 1), as_of=AS_OF)
    with pytest.raises(ValueError, match="after the evaluation date"):
        f.yearly_purchases(1, dt.date(2026, 2, 1), as_of=AS_OF)


def test_rfm_band_gives_no_purchase_its_own_band_and_ties_the_lowest() -> None:
    cuts = (1.0, 1.0, 1.0, 2.0)  # most buyers bought once
    assert [f.rfm_band(v, cuts) for v in (0, 1, 2, 3, 9)] == [0, 1, 4, 5, 5]
    with pytest.raises(ValueError, match="ascending"):
        f.rfm_band(1, (2.0, 1.0))


MODEL = (0.6, 128.0, 0.8, 2.5)


def test_bg_nbd_functions_by_hand() -> None:
    # 11 purchases (x = 10 repeats), the last 1065 days after the first, 1096 days ago
    odds = 0.8 / 11.5 * (1224 / 1193) ** 10.6
    assert f.bg_nbd_active(11, 1065, 1096, MODEL) == pytest.approx(1 / (1 + odds))
    assert f.bg_nbd_active(1, 0, 400, MODEL) == 1  # one purchase: cannot have left yet
    # long silence after frequent buying: probably gone
    assert f.bg_nbd_active(11, 300, 1096, MODEL) < 0.01
    assert f.bg_nbd_rate(11, 1096, MODEL) == pytest.approx(10.6 / 1224 * 365.25)
    rate = 10.6 / 1224 * 365.25
    assert f.bg_nbd_retention(11, 1096, MODEL) == pytest.approx((1 + rate / 13.3) ** -0.8)
    with pytest.raises(ValueError, match="4 positive numbers"):
        f.bg_nbd_rate(1, 10, (1.0, 2.0))
    with pytest.raises(ValueError, match="not a purchase history"):
        f.bg_nbd_active(3, 500, 100, MODEL)
    with pytest.raises(ValueError, match="at least one purchase"):
        f.bg_nbd_rate(0, 100, MODEL)


def test_coalesce() -> None:
    from tierwise.stdlib.general import coalesce

    assert coalesce(None, 0.3) == 0.3 and coalesce(0.2, 0.3) == 0.2 and coalesce(None, None) is None


# -- through the engine: nulls and errors ---------------------------------------------------
RULES = """
decision: value
inputs:
  margin: number
  retention: number
  last_purchase_at: date
derive:
  clv: lifetime_value_infinite(margin, retention, 0.1)
rules:
  - id: valuable
    when: clv >= 1000
    then: {v: high}
  - id: recent
    when: recency(last_purchase_at) <= 30
    then: {v: recent}
default: {v: low}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("rules") / "value.yaml"
    path.write_text(RULES)
    return Engine.from_path(path)


def test_engine_uses_the_functions_and_propagates_null(engine: Engine) -> None:
    assert engine.decide({"margin": 500, "retention": 0.8}, as_of=AS_OF).output("value") == {
        "v": "high"
    }
    # no margin -> no CLV (null) -> unknown; no purchase date -> unknown: the default
    out = engine.decide({"retention": 0.8}, as_of=AS_OF)
    assert out.decisions["value"].status == "default"
    recent = {"margin": 1, "retention": 0.5, "last_purchase_at": "2025-12-20"}
    assert engine.decide(recent, as_of=AS_OF).output("value") == {"v": "recent"}


def test_diverging_retention_is_that_clients_decision_error(engine: Engine) -> None:
    out = engine.decide({"margin": 500, "retention": 1.2}, as_of=AS_OF)
    result = out.decisions["value"]
    assert result.status == "error"
    assert "diverges" in (result.error or "")


def test_every_function_is_registered_with_a_doc_and_an_sql_form() -> None:
    registry = function_registry()
    for fn in f.CRM_FUNCTIONS:
        assert registry[fn.name] is fn
        assert fn.doc and fn.sql is not None


# -- SQL forms equal the Python forms ------------------------------------------------------
D = dt.date
CASES: list[tuple[str, tuple[Any, ...]]] = [
    ("lifetime_value", (100.0, 0.8, 0.1, 5)),
    ("lifetime_value", (100, 1, 0, 5)),
    ("lifetime_value", (250, 0.95, 0.08, 10)),
    ("lifetime_value", (-40, 0.5, 0, 3)),
    ("lifetime_value", (100, 0.8, 0.1, 0)),
    ("lifetime_value", (100, 1e-6, 0.1, 60)),  # q^n underflows: 1 - q^n is 1.0
    ("lifetime_value", (100, 0, 0.1, 3)),
    ("lifetime_value", (100, -0.1, 0.1, 3)),
    ("lifetime_value", (100, 0.8, 0.1, None)),
    ("lifetime_value_infinite", (100, 0.8, 0.1)),
    ("lifetime_value_infinite", (100, 1, 0)),
    ("lifetime_value_infinite", (100, 1.2, 0.1)),
    ("lifetime_value_infinite", (7, 0.33, 0.07)),
    ("relationship_profit", (12000, 7000, 1500)),
    ("relationship_profit", (100.5, 0.25, None)),
    ("purchase_frequency", (6, D(2025, 7, 1))),
    ("purchase_frequency", (1, D(2025, 12, 31))),
    ("purchase_frequency", (0, D(2020, 2, 29))),
    ("purchase_frequency", (3, D(2026, 2, 1))),
    ("recency", (D(2025, 12, 1),)),
    ("recency", (D(2026, 1, 2),)),
    ("recency", (None,)),
    ("tenure", (D(2024, 1, 1),)),
    ("tenure", (D(2016, 2, 29),)),
    ("observed_days", (D(2025, 12, 2), 365)),
    ("observed_days", (D(2020, 1, 1), 365)),
    ("observed_days", (D(2026, 2, 1), 365)),
    ("observed_days", (D(2025, 1, 1), -1)),
    ("band", (50, (10.0, 20.0, 50.0, 80.0))),
    ("band", (50.5, (10.0, 20.0, 50.0, 80.0))),
    ("band", (5, (3.0, 3.0, 3.0, 3.0))),
    ("band", (1, (4.0, 3.0, 2.0, 1.0))),
    ("band", (None, (1.0, 2.0))),
    ("rank", (11, tuple(float(c) for c in range(0, 990, 10)))),
    ("rank", (-1, tuple(float(c) for c in range(0, 990, 10)))),
    ("rank", (10**6, tuple(float(c) for c in range(0, 990, 10)))),
    ("lifecycle", (None, None, None, None)),
    ("lifecycle", (1100, 400, 500, 500)),
    ("lifecycle", (1100, 365, 500, 500)),
    ("lifecycle", (200, 20, 500, 0)),
    ("lifecycle", (729, 20, 1200, 1000)),
    ("lifecycle", (1100, 20, 1200, 1000)),
    ("lifecycle", (1100, 20, 1199.5, 1000)),
    ("lifecycle", (1100, 20, 800, 1000)),
    ("lifecycle", (1100, 20, 0, 0)),
    ("lifecycle", (1100, None, 800, 1000)),
    ("yearly_purchases", (6, D(2024, 1, 1))),
    ("yearly_purchases", (1, D(2025, 12, 31))),
    ("yearly_purchases", (3, D(2025, 12, 2))),
    ("yearly_purchases", (3, D(2026, 2, 1))),
    ("rfm_band", (0, (1.0, 1.0, 1.0, 2.0))),
    ("rfm_band", (1, (1.0, 1.0, 1.0, 2.0))),
    ("rfm_band", (2.5, (1.0, 1.0, 1.0, 2.0))),
    ("bg_nbd_active", (11, 1065, 1096, MODEL)),
    ("bg_nbd_active", (1, 0, 400, MODEL)),
    ("bg_nbd_active", (11, 300, 1096, MODEL)),
    ("bg_nbd_active", (901, 0, 5000, MODEL)),  # odds beyond e^700: 0
    ("bg_nbd_active", (3, 500, 100, MODEL)),
    ("bg_nbd_active", (0, 0, 100, MODEL)),
    ("bg_nbd_active", (2, 10, 20, (1.0, 2.0))),
    ("bg_nbd_rate", (11, 1096, MODEL)),
    ("bg_nbd_rate", (0, 1096, MODEL)),
    ("bg_nbd_retention", (11, 1096, MODEL)),
    ("bg_nbd_retention", (1, 30, MODEL)),
    ("satisfaction_trend", (3.5, 4.25)),
]
PARAM_TYPES = {"number": sa.Double(), "integer": sa.Integer(), "date": sa.Date()}
FUNCTIONS_UNDER_TEST = [*f.CRM_FUNCTIONS, function_registry()["coalesce"]]


def _python(name: str, args: tuple[Any, ...]) -> Any:
    fn = function_registry()[name]
    if not fn.null_safe and any(a is None for a in args):
        return None
    try:
        return fn.impl(*args, as_of=AS_OF) if fn.needs_as_of else fn.impl(*args)
    except ValueError:
        return None  # where Python raises, SQL gives NULL


def _typed(conn: sa.Connection, value: Any, t: Any) -> Any:
    """A value typed as a table column is (SQLite has no date type: dates are ISO text)."""
    return value if conn.dialect.name == "sqlite" else sa.cast(value, t)


def _sql(conn: sa.Connection, name: str, args: tuple[Any, ...]) -> Any:
    """The SQL form's value; cut points (numbers) are constants of the query, as the batch
    compiler hands them from the run's profile."""
    fn = function_registry()[name]
    cols = [
        a if p == "numbers" else _typed(conn, sa.literal(a, PARAM_TYPES[p]), PARAM_TYPES[p])
        for a, p in zip(args, fn.params, strict=True)
    ]
    expr = fn.sql(*cols, as_of=AS_OF) if fn.needs_as_of else fn.sql(*cols)
    return conn.execute(sa.select(expr)).scalar_one()


@pytest.fixture(scope="module", params=["sqlite", "duckdb", "postgresql"])
def conn(request: pytest.FixtureRequest) -> Any:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = {"sqlite": "sqlite://", "duckdb": "duckdb:///:memory:"}[request.param]
    engine = connect(url)  # picks the installed PostgreSQL driver
    with engine.connect() as connection:
        yield connection
    engine.dispose()


@pytest.mark.parametrize(("name", "args"), CASES, ids=[f"{n}{a}" for n, a in CASES])
def test_sql_form_equals_python(conn: sa.Connection, name: str, args: tuple[Any, ...]) -> None:
    want, got = _python(name, args), _sql(conn, name, args)
    if isinstance(want, float):
        assert isinstance(got, float) and got == want
    else:
        assert got == want


def test_sql_dates_read_iso_text_and_datetimes_on_sqlite() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        text = conn.execute(
            sa.select(fsql.recency_sql(sa.literal("2025-12-01"), as_of=AS_OF))
        ).scalar()
        stamp = sa.literal("2025-12-31 23:59:00")
        late = conn.execute(sa.select(fsql.recency_sql(stamp, as_of=AS_OF))).scalar()
    assert (text, late) == (31, 1)


# Realistic magnitudes: PostgreSQL raises on float underflow (a product of 1e-300 and
# 1e-30), where IEEE arithmetic, Python and the other engines give 0.
NUMBERS = st.none() | st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6).map(lambda x: round(x, 3))
RATES = st.sampled_from([0, 1e-6, 0.5, 1, 1.1]) | st.floats(-0.5, 2.0).map(lambda x: round(x, 4))
STRATEGIES = {
    "number": NUMBERS,
    "integer": st.none() | st.integers(-3, 60),
    "date": st.none() | st.dates(dt.date(2015, 1, 1), dt.date(2026, 3, 1)),
    "numbers": st.lists(st.floats(-1e6, 1e6).map(lambda x: round(x, 3)), min_size=1, max_size=12)
    .map(sorted)
    .map(tuple),
}
MODELS = st.tuples(*(st.floats(0.05, 400).map(lambda x: round(x, 3)) for _ in range(4))) | st.just(
    MODEL
)
"""Purchase models: four positive parameters (the bg_nbd_* functions' last argument)."""


@pytest.mark.parametrize("name", [fn.name for fn in FUNCTIONS_UNDER_TEST])
def test_sql_form_equals_python_on_random_arguments(conn: sa.Connection, name: str) -> None:
    params = function_registry()[name].params
    rates = name.startswith("lifetime_value")  # retention and discount near their limits
    model = name.startswith("bg_nbd")
    args = st.tuples(
        *(
            RATES
            if rates and i in (1, 2)
            else MODELS
            if model and p == "numbers"
            else STRATEGIES[p]
            for i, p in enumerate(params)
        )
    )

    @settings(max_examples=25, deadline=None, database=None)
    @given(args)
    def check(values: tuple[Any, ...]) -> None:
        assert _sql(conn, name, values) == _python(name, values)

    check()
