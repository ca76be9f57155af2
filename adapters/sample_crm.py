"""A seeded generator of a realistic SQLite CRM for a service company, with some dirty data.

`generate("crm.db", clients=10_000, seed=7)` writes tables clients, orders,
support_tickets and satisfaction_surveys. The same seed, size and `end` date give
byte-identical files. About `dirty_share` (2%) of the clients carry one defect each, as
real CRMs do: a missing field, text in a numeric or date column, a negative order amount,
an unknown enum value or a date in the future. `sample_mapping.yaml` beside this file
maps the tables onto the facts the shipped rule packs read; `sample_mapping_purchase_log
.yaml` maps only the purchases (no costs, tickets, surveys or churn score).

Purchases follow a BG/NBD process with known parameters (PURCHASES): while active, a
client buys at a rate drawn from a gamma distribution; after each repeat purchase they
leave with a probability drawn from a beta distribution; order amounts are gamma with a
client's own mean (Gamma-Gamma). Most clients buy once and never come back; a long tail
buys often for years. The CRM's churn score is the true chance of leaving within a year,
with noise, so it is a better input than what the purchase history alone can tell.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_END = dt.date(2026, 1, 1)
"""The last day of generated history; pass `end=` to generate up to another day."""
HISTORY_YEARS = 8
DAILY_GROWTH = math.log(1.25) / 365.25
"""The client base grows 25% a year: the sign-up rate, per day, in log terms."""


@dataclass(frozen=True)
class Purchasing:
    """The known parameters of one kind of client's purchases (time in years): rates ~
    gamma(r, scale 1/alpha), dropout after a repeat purchase ~ beta(a, b), amounts ~
    gamma(p, scale 1/nu) with nu ~ gamma(q, scale 1/gamma_) per client."""

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    gamma_: float


PURCHASES = {
    "individual": Purchasing(r=0.35, alpha=0.45, a=0.9, b=2.2, p=4.0, q=3.5, gamma_=68.75),
    "business": Purchasing(r=1.1, alpha=0.35, a=0.7, b=3.5, p=4.0, q=3.5, gamma_=875.0),
}
"""Mean order 110 EUR for individuals (p*gamma_/(q-1)) and 1,400 for businesses; mean
rates 0.8 and 3.1 purchases a year, most clients far below, a few far above."""
DEFECTS = (
    "missing_field",
    "text_in_number",
    "bad_date",
    "negative_amount",
    "unknown_enum",
    "future_date",
    "text_in_score",
)
CHANNELS = (("email", 45), ("phone", 20), ("app", 15), ("sms", 10), ("in_person", 10))
REGIONS = ("north", "south", "east", "west", "capital")
TICKET_KINDS = (("question", 50), ("request", 25), ("incident", 15), ("complaint", 10))
SEVERITIES = (("low", 30), ("normal", 50), ("high", 15), ("critical", 5))
FIRST_NAMES = (
    "Anna",
    "Boris",
    "Clara",
    "Dmitri",
    "Elena",
    "Farid",
    "Galina",
    "Hugo",
    "Irina",
    "Jonas",
    "Katya",
    "Leon",
    "Maria",
    "Nikolai",
    "Olga",
    "Pavel",
    "Rosa",
    "Sergei",
    "Tatiana",
    "Viktor",
)
LAST_NAMES = (
    "Ivanova",
    "Smirnov",
    "Kuznetsova",
    "Popov",
    "Sokolova",
    "Lebedev",
    "Novak",
    "Fischer",
    "Morozova",
    "Volkov",
    "Petrova",
    "Berg",
    "Klein",
    "Orlov",
    "Weber",
)
COMPANY_WORDS = ("Nord", "Alfa", "Vector", "Sever", "Delta", "Orion", "Kama", "Ural", "Neva")
COMPANY_KINDS = ("Logistics", "Clinic", "Foods", "Engineering", "Retail", "Studio", "Hotels")

SCHEMA = """
CREATE TABLE clients (
    id INTEGER PRIMARY KEY, name TEXT, email TEXT, client_type TEXT, region TEXT,
    signup_date TEXT, preferred_channel TEXT, marketing_consent TEXT, churn_risk REAL,
    referred_by INTEGER, pricing_tier TEXT, loyalty_method TEXT, support_actions TEXT
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL, ordered_at TEXT, amount REAL,
    cost REAL, channel TEXT, status TEXT
);
CREATE TABLE support_tickets (
    id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL, opened_at TEXT, closed_at TEXT,
    kind TEXT, severity TEXT, status TEXT, handling_cost REAL
);
CREATE TABLE satisfaction_surveys (
    id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL, answered_at TEXT, csat INTEGER,
    nps INTEGER, channel TEXT
);
"""
INDEXES = """
CREATE INDEX orders_client ON orders (client_id);
CREATE INDEX tickets_client ON support_tickets (client_id);
CREATE INDEX surveys_client ON satisfaction_surveys (client_id);
CREATE INDEX clients_referred_by ON clients (referred_by);
CREATE VIEW purchase_log_clients AS
    SELECT id, name, email, client_type, region, signup_date, preferred_channel,
           marketing_consent
    FROM clients;
"""
"""Dates are ISO text (SQLite has no date type), so a dirty date stays readable as text.
The view purchase_log_clients is the client record without the churn score, for the
purchase-log mapping.
The last three client columns are empty: `tierwise run` writes decisions back into them."""
INSERT_CLIENT = (
    "INSERT INTO clients (id, name, email, client_type, region, signup_date, preferred_channel,"
    " marketing_consent, churn_risk, referred_by) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


@dataclass
class _Tables:
    clients: list[list[Any]] = field(default_factory=list)
    orders: list[list[Any]] = field(default_factory=list)
    tickets: list[list[Any]] = field(default_factory=list)
    surveys: list[list[Any]] = field(default_factory=list)


def generate(
    path: str | Path,
    clients: int = 10_000,
    seed: int = 7,
    *,
    end: dt.date = SAMPLE_END,
    dirty_share: float = 0.02,
) -> Path:
    """Write a new sample CRM to `path` (replacing any file there) and return the path."""
    if clients < 1:
        raise ValueError(f"clients must be at least 1, got {clients}")
    if not 0 <= dirty_share <= 1:
        raise ValueError(f"dirty_share is a fraction between 0 and 1, got {dirty_share}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    tables = _Generator(random.Random(seed), end).tables(clients, dirty_share)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a new file: nothing to protect until it is done
        conn.execute("PRAGMA journal_mode = MEMORY")
        conn.executescript(SCHEMA)
        conn.executemany(INSERT_CLIENT, tables.clients)
        conn.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?)", tables.orders)
        conn.executemany("INSERT INTO support_tickets VALUES (?,?,?,?,?,?,?,?)", tables.tickets)
        conn.executemany("INSERT INTO satisfaction_surveys VALUES (?,?,?,?,?,?)", tables.surveys)
        conn.executescript(INDEXES)  # indexing once at the end is faster than on every insert
        conn.commit()
    finally:
        conn.close()
    return path


class _Weighted:
    """A weighted choice by one uniform draw (random.choices is slow in a tight loop)."""

    def __init__(self, weighted: tuple[tuple[str, int], ...]) -> None:
        self.values = [w[0] for w in weighted]
        self.cumulative = list(itertools.accumulate(w[1] for w in weighted))

    def __call__(self, rng: random.Random) -> str:
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


PICK_CHANNEL, PICK_KIND, PICK_SEVERITY = (
    _Weighted(CHANNELS),
    _Weighted(TICKET_KINDS),
    _Weighted(SEVERITIES),
)


class _Generator:
    """Clients with a latent purchase rate, dropout chance and order size; their history follows.
    Days are ordinals (ints) until they are written, as ISO text."""

    def __init__(self, rng: random.Random, end: dt.date) -> None:
        self.rng = rng
        self.end = end.toordinal()
        self.start = self.end - round(HISTORY_YEARS * 365.25)
        self.growth_span = math.expm1(DAILY_GROWTH * (self.end - self.start))
        self.t = _Tables()
        self._iso: dict[int, str] = {}

    def iso(self, day: int) -> str:
        text = self._iso.get(day)
        if text is None:
            text = self._iso[day] = dt.date.fromordinal(day).isoformat()
        return text

    def tables(self, count: int, dirty_share: float) -> _Tables:
        dirty = set(self.rng.sample(range(1, count + 1), round(count * dirty_share)))
        for cid in range(1, count + 1):
            self._client(cid, cid in dirty)
        return self.t

    def _client(self, cid: int, dirty: bool) -> None:
        rng = self.rng
        business = rng.random() < 0.2
        # the company grows GROWTH a year, so sign-ups are exponentially more frequent lately
        signup = self.start + int(math.log1p(rng.random() * self.growth_span) / DAILY_GROWTH)
        prospect = rng.random() < 0.12
        orders, leaving = ([], 1.0) if prospect else self._orders(cid, signup, business)
        complaints = self._tickets(cid, signup, orders)
        self._surveys(cid, orders, complaints)
        risk = min(0.99, max(0.01, leaving + complaints * 0.05 + rng.gauss(0, 0.08)))
        name = (
            f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
            if business
            else f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        )
        row = [
            cid,
            name,
            f"client{cid}@example.com",
            "business" if business else "individual",
            rng.choice(REGIONS),
            self.iso(signup),
            PICK_CHANNEL(rng),
            "granted" if rng.random() < 0.72 else "withdrawn",
            round(risk, 3) if rng.random() > 0.04 else None,
            rng.randrange(1, cid) if cid > 20 and rng.random() < 0.1 else None,
        ]
        self.t.clients.append(row)
        if dirty:
            self._defect(row, cid)

    def _orders(
        self, cid: int, signup: int, business: bool
    ) -> tuple[list[tuple[int, list[Any]]], float]:
        """The client's paid orders (the BG/NBD purchases; about 4% come after a refunded or
        cancelled attempt on the same day), appended to the table, as (day, row) pairs in
        date order, and their true chance of leaving within a year of the end (1 once they
        have left)."""
        rng = self.rng
        kind = PURCHASES["business" if business else "individual"]
        rate = rng.gammavariate(kind.r, 1 / kind.alpha) / 365.25  # purchases a day
        dropout = rng.betavariate(kind.a, kind.b)
        mean_amount = kind.p / rng.gammavariate(kind.q, 1 / kind.gamma_)
        orders: list[tuple[int, list[Any]]] = []
        day = signup + int(rng.expovariate(1 / 45))
        while day <= self.end:
            amount = round(rng.gammavariate(kind.p, mean_amount / kind.p), 2)
            if rng.random() < 0.04:  # a failed attempt first: refunded or cancelled
                self._order(cid, day, amount, rng.choice(("refunded", "cancelled")))
            orders.append((day, self._order(cid, day, amount, "paid")))
            if len(orders) > 1 and rng.random() < dropout:
                return orders, 1.0
            day += max(1, round(rng.expovariate(rate))) if rate > 0 else self.end + 1
        return orders, -math.expm1(-rate * 365.25 * dropout) if orders else 1.0

    def _order(self, cid: int, day: int, amount: float, status: str) -> list[Any]:
        """One order row, appended to the table; its cost is 45-80% of the amount."""
        rng, table = self.rng, self.t.orders
        cost = round(amount * rng.uniform(0.45, 0.8), 2)
        row = [len(table) + 1, cid, self.iso(day), amount, cost, PICK_CHANNEL(rng), status]
        table.append(row)
        return row

    def _tickets(self, cid: int, signup: int, orders: list[tuple[int, list[Any]]]) -> int:
        """Tickets after some orders (and a few from prospects); returns open complaints."""
        rng = self.rng
        moments = [day for day, _ in orders if rng.random() < 0.18]
        if not orders and rng.random() < 0.1:
            moments.append(signup + rng.randrange(0, 30))
        open_complaints = 0
        for moment in moments:
            opened = moment + rng.randrange(0, 20)
            if opened > self.end:
                continue
            kind, severity = PICK_KIND(rng), PICK_SEVERITY(rng)
            still_open = self.end - opened < 30 and rng.random() < 0.45
            closed = None if still_open else opened + rng.randrange(0, 10)
            if closed is not None and closed > self.end:
                closed, still_open = None, True
            cost = round(rng.uniform(10, 60) * (3 if kind in ("incident", "complaint") else 1), 2)
            self.t.tickets.append(
                [
                    len(self.t.tickets) + 1,
                    cid,
                    self.iso(opened),
                    None if closed is None else self.iso(closed),
                    kind,
                    severity,
                    "open" if still_open else "closed",
                    cost,
                ]
            )
            open_complaints += kind == "complaint" and still_open
        return open_complaints

    def _surveys(self, cid: int, orders: list[tuple[int, list[Any]]], complaints: int) -> None:
        rng = self.rng
        mood = rng.gauss(0.6, 0.9) - complaints * 1.2  # a client's general satisfaction
        for day, _ in orders:
            if rng.random() > 0.3:
                continue
            answered = day + rng.randrange(1, 8)
            if answered > self.end:
                continue
            score = mood + rng.gauss(0, 0.8)
            csat = min(5, max(1, round(3.6 + score)))
            nps = min(10, max(0, round(7.5 + 1.8 * score)))
            channel = rng.choice(("email", "app", "sms"))
            self.t.surveys.append(
                [len(self.t.surveys) + 1, cid, self.iso(answered), csat, nps, channel]
            )

    def _defect(self, row: list[Any], cid: int) -> None:
        """One defect, of the kinds real CRM data has; each one lands where a fact reads it."""
        rng = self.rng
        kind = rng.choice(DEFECTS)
        if kind == "missing_field":
            row[rng.choice((3, 5, 6, 7))] = None  # client_type, signup, channel or consent
        elif kind == "text_in_number":
            row[8] = rng.choice(("high", "n/a", "0,35", "?"))
        elif kind == "bad_date":
            row[5] = rng.choice(("31/12/2019", "unknown", "2021-02-30", "last spring"))
        elif kind == "unknown_enum":
            column, value = rng.choice(((6, "fax"), (3, "reseller"), (7, "maybe"), (6, "Email")))
            row[column] = value
        elif kind == "future_date":
            row[5] = self.iso(self.end + rng.randrange(30, 2000))
        elif kind == "negative_amount" and (orders := self._client_rows(self.t.orders, cid)):
            victim = rng.choice(orders)
            victim[3], victim[6] = -abs(victim[3]), "paid"
        elif kind == "text_in_score" and (surveys := self._client_rows(self.t.surveys, cid)):
            latest = max(s[2] for s in surveys)
            for survey in surveys:
                if survey[2] == latest:
                    survey[3] = rng.choice(("good", "5 stars", "bad"))
        else:  # a client with no orders or surveys for those defects: text in a number
            row[8] = "unknown"

    @staticmethod
    def _client_rows(rows: list[list[Any]], cid: int) -> list[list[Any]]:
        """The client's rows of a table: the last ones, since each client's rows come last."""
        found: list[list[Any]] = []
        for row in reversed(rows):
            if row[1] != cid:
                break
            found.append(row)
        return found
