"""The words of fact and column names, for matching one to the other: names split into
words (`totalSpend`, `total_spend`, `Total Spend` alike), words reduced to the concepts a
CRM names in many ways (spend, sales, turnover and amount are revenue), and what a name
says about how a value is computed (first or last, a total or an average, a window of
days). `tierwise map` proposes sources with it and `tierwise facts` groups facts by it."""

from __future__ import annotations

import re
from dataclasses import dataclass

CONCEPTS: dict[str, tuple[str, ...]] = {
    "order": ("order", "ordered", "purchase", "purchased", "transaction", "buy", "bought"),
    "revenue": ("revenue", "spend", "spent", "sale", "turnover", "amount", "gmv", "income"),
    "cost": ("cost", "expense", "cogs"),
    "ticket": ("ticket", "case", "issue", "incident", "request"),
    "complaint": ("complaint", "claim"),
    "survey": ("survey", "feedback", "response", "answered", "answer"),
    "csat": ("csat", "satisfaction", "satisfied"),
    "nps": ("nps", "promoter", "recommend"),
    "signup": ("signup", "registered", "registration", "joined", "join", "enrolled"),
    "churn": ("churn", "attrition"),
    "risk": ("risk", "probability", "likelihood", "propensity"),
    "channel": ("channel", "medium"),
    "preferred": ("preferred", "preference", "favourite", "favorite"),
    "consent": ("consent", "optin", "permission", "gdpr", "subscribed"),
    "marketing": ("marketing", "newsletter", "promo"),
    "client": ("client", "customer", "account", "member"),
    "type": ("type", "kind", "category"),
    "referral": ("referral", "referred", "referrer", "invite", "invited"),
    "support": ("support", "service", "helpdesk"),
    "relationship": ("relationship",),
}
"""Concept -> the words (singular, lower case) that name it."""

RELATED: dict[frozenset[str], float] = {
    frozenset({"complaint", "ticket"}): 0.5,
    frozenset({"support", "ticket"}): 0.5,
    frozenset({"csat", "survey"}): 0.5,
    frozenset({"nps", "survey"}): 0.5,
}
"""Concepts that stand in for each other in part (a ticket is not always a complaint)."""

FUNCTIONS: dict[str, str] = {
    **dict.fromkeys(("first", "earliest", "oldest"), "first"),
    **dict.fromkeys(("last", "latest", "recent", "newest", "current"), "last"),
    **dict.fromkeys(("total", "count", "number", "num", "cnt", "sum", "lifetime", "all"), "total"),
    **dict.fromkeys(("avg", "average", "mean"), "avg"),
    **dict.fromkeys(("min", "minimum", "smallest", "lowest"), "min"),
    **dict.fromkeys(("max", "maximum", "largest", "highest", "biggest"), "max"),
}
"""Words that say how a value is taken from many rows."""

DATE_WORDS = frozenset({"at", "date", "on", "day", "dt", "time", "when", "timestamp"})
ID_WORDS = frozenset({"id", "uuid", "key", "code", "no", "nr", "number", "ref"})
PAID_WORDS = ("paid", "completed", "complete", "fulfilled", "delivered", "succeeded", "settled")
"""Values of a status column that mark a purchase that counts."""

_WINDOW = re.compile(r"^(\d+)(d|day|m|mo|month|w|wk|week|y|yr|year)$")
_WINDOW_DAYS = {"d": 1, "day": 1, "w": 7, "wk": 7, "week": 7, "y": 365, "yr": 365, "year": 365}
_PAIRS = {("sign", "up"): "signup", ("net", "promoter"): "nps", ("opt", "in"): "optin"}
_WORD_TO_CONCEPT = {word: concept for concept, words in CONCEPTS.items() for word in words}


def words(name: str) -> list[str]:
    """A name's words, lower case and singular: `lastOrderDate` -> last, order, date."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    raw = re.findall(r"[a-z]+|\d+[a-z]*", spaced.lower())
    joined: list[str] = []
    for word in raw:
        if joined and (joined[-1], word) in _PAIRS:
            joined[-1] = _PAIRS[(joined[-1], word)]
        elif joined and word.isalpha() and joined[-1].isdigit():  # 12 months -> 12month
            joined[-1] += singular(word)
        else:
            joined.append(singular(word))
    return joined


def singular(word: str) -> str:
    """`orders` -> `order`; words ending in ss, us or is stay (status, analysis)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def window_days(word: str) -> int | None:
    """`12m` -> 365, `90d` -> 90, `2y` -> 730; None for other words."""
    match = _WINDOW.match(word)
    if match is None:
        return None
    count, unit = int(match.group(1)), match.group(2)
    if unit in ("m", "mo", "month"):
        return 365 if count == 12 else round(count * 365 / 12)
    return count * _WINDOW_DAYS[unit]


@dataclass(frozen=True)
class NameSense:
    """What a name says: its concepts, how the value is taken (first, last, total...), over
    which window of days, whether it is a date, and its other words."""

    concepts: frozenset[str]
    function: str | None
    window: int | None
    dated: bool
    other: frozenset[str]
    words: tuple[str, ...]


def sense(name: str, context: str = "") -> NameSense:
    """The sense of a name (`context`, a description, adds concepts only)."""
    found = words(name)
    concepts = {_WORD_TO_CONCEPT[w] for w in found if w in _WORD_TO_CONCEPT}
    concepts |= {_WORD_TO_CONCEPT[w] for w in words(context) if w in _WORD_TO_CONCEPT}
    function = next((FUNCTIONS[w] for w in found if w in FUNCTIONS), None)
    window = next((d for d in map(window_days, found) if d is not None), None)
    if window is None and {"annual", "yearly", "year"} & set(found):
        window = 365
    dated = bool(DATE_WORDS & set(found))
    other = frozenset(
        w
        for w in found
        if w not in _WORD_TO_CONCEPT
        and w not in FUNCTIONS
        and w not in DATE_WORDS
        and window_days(w) is None
    )
    return NameSense(frozenset(concepts), function, window, dated, other, tuple(found))


def concept_overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """How much of `a`'s concepts `b` names (0-1); related concepts count in part."""
    if not a:
        return 0.0
    total = 0.0
    for concept in a:
        if concept in b:
            total += 1.0
        else:
            total += max((RELATED.get(frozenset({concept, other}), 0.0) for other in b), default=0)
    return total / len(a)


def group_of(name: str, context: str = "") -> str:
    """The kind of CRM record a fact comes from, to group facts for a reader: orders,
    support tickets, surveys, or the client record itself."""
    concepts = sense(name, context).concepts
    if concepts & {"csat", "nps", "survey"}:
        return "satisfaction surveys"
    if concepts & {"ticket", "complaint", "support"}:
        return "support tickets"
    if concepts & {"order", "revenue", "cost"}:
        return "orders"
    return "the client record"
