"""No rule file gives a traceback: random YAML, CSV and expression text, and random edits of
the shipped packs, either load into a Pack or raise RulePackError, nothing else.

A pack that loads is also compiled for durable and asked for one client, which must give an
outcome. Each example has a generous deadline: it guards against a file that makes loading
hang or grow without bound (what the limits in pack/load.py and lang/parse.py prevent), not
against slowness.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierwise import Engine
from tierwise.errors import Pos, RulePackError
from tierwise.lang.parse import ParseError, parse_expression
from tierwise.pack.build import load_pack
from tierwise.plugins.manager import function_registry
from tierwise.profile import ProfileError

RULES = Path(__file__).resolve().parent.parent / "rules"
FUNCTIONS = function_registry()
FUZZ = settings(
    max_examples=120,
    deadline=dt.timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow],
)
HEAD = "decision: d\ninputs: {x: number, n: integer, e: string, day: date, flag: bool}\n"

EXPRESSION_TOKENS = [
    "x", "n", "e", "day", "flag", "d.k", "nope", "days_since(day)", "exists(x)", "round(",
    "1", "-2", "3.5", "1e308", "1e999", "2**64", "18446744073709551616", "2024-02-29",
    "2024-02-30", "2024-01-01T10:00", '"a"', '"a\\"b"', "'c'", '"', "'", "\\", "[", "]", "(",
    ")", ",", "==", "!=", "<", "<=", ">", ">=", "=", "+", "-", "*", "/", "%", "and", "or",
    "not", "in", "true", "false", "null", " ", "\t", "é", "\x00",
]  # fmt: skip
YAML_FRAGMENTS = [
    HEAD, "rules:\n", "  - ", "{id: r, when: ", "x > 1", ", then: {k: 1}}", "then:", " {k: 2}",
    "default: {k: 0}\n", "hit_policy: collect\n", "hit_policy: first\n", "aggregate: count\n",
    "table: {file: t.csv}\n", "table: {file: ../t.csv}\n", "table: {rows: [{x: 1, k: a}]}\n",
    "tests: [{given: {x: 2}, expect: {k: 1}}]\n", "derive: {y: x * 2}\n", "priority: 3",
    "&a ", "*a", "<<: ", "<<: *a", "[", "]", "{", "}", ": ", "\n", "  ", "- ", "'", '"',
    "\\", "!!str ", "!!binary ", "%YAML 1.2\n", "---\n", "...\n", "? ", "|\n", ">-\n", "#",
    ",", "null", "~", "2024-02-30", "1e999", ".nan", "0x", "\t", "\r", "\ufeff", "\x85",
]  # fmt: skip
CELLS = [
    "", "-", "1", ">= 10", "[1..5]", "(1..5]", "[5..1]", "not(1)", "not(", '"vip","b2b"',
    '"a\\"b"', '"a""b"', "a b", "a;b", "=1", "== x", "true", "1e999", "2024-02-29", ",", '"',
    "'", "\\", "x > 1", "é", "[", "..", "r1", "r 1",
]  # fmt: skip
EDITS = ["[", "{", "*a", "&a", "<<: *a", ": ", "\n  ", "\n- ", "'", '"', "not ", "(", ")",
         "-", ",", "#", "\t", "x"]  # fmt: skip

numbers = st.recursive(
    st.sampled_from(["x", "n", "1", "-2", "3.5", "1e300", "days_since(day)", "0"]),
    lambda inner: st.one_of(
        st.builds("{} {} {}".format, inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner),
        st.builds("({})".format, inner),
        st.builds("-{}".format, inner),
        st.builds("round({})".format, inner),
    ),
    max_leaves=12,
)
conditions = st.recursive(
    st.one_of(
        st.builds("{} {} {}".format, numbers, st.sampled_from(["==", "!=", "<", ">="]), numbers),
        st.sampled_from(["flag", 'e == "a"', 'e in ["a", "b"]', "exists(x)", "day > 2024-01-01"]),
    ),
    lambda inner: st.one_of(
        st.builds("{} and {}".format, inner, inner),
        st.builds("{} or {}".format, inner, inner),
        st.builds("not ({})".format, inner),
        st.builds("({})".format, inner),
    ),
    max_leaves=10,
)
expressions = st.one_of(
    st.lists(st.sampled_from(EXPRESSION_TOKENS), max_size=25).map(" ".join), conditions
)
yaml_texts = st.lists(
    st.one_of(st.sampled_from(YAML_FRAGMENTS), st.text(max_size=4)), max_size=40
).map("".join)
csv_texts = st.lists(
    st.lists(st.one_of(st.sampled_from(CELLS), st.text(max_size=3)), min_size=1, max_size=5),
    max_size=8,
).map(lambda rows: "id,x,e,k\n" + "\n".join(",".join(cells) for cells in rows) + "\n")


def outcome_or_error(files: dict[str, str]) -> None:
    """Load a pack of these files: a Pack that decides one client, or RulePackError."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "pack"
        root.mkdir()
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            pack = load_pack(root, FUNCTIONS)
        except RulePackError as e:
            assert e.errors and all(error.pos.line >= 1 for error in e.errors)
            return
        client = {"x": 2, "n": 3, "e": "a", "day": "2024-01-01", "flag": True}
        as_of = dt.date(2024, 3, 1)
        engine = Engine(pack)
        try:  # a pack reading statistics is profiled on the one client first
            profile = engine.profile([client], as_of) if pack.profile else None
        except ProfileError as e:
            assert str(e)
            return
        outcome = engine.decide(client, as_of=as_of, profile=profile)
        assert outcome.model_dump_json()


@FUZZ
@given(text=expressions)
def test_random_expressions_parse_or_fail_with_a_place(text: str) -> None:
    try:
        parse_expression(text, lambda offset: Pos("f", 1, offset + 1))
    except ParseError as e:
        assert 1 <= e.pos.col <= len(text) + 1
    when = text.replace("'", "''")
    outcome_or_error(
        {"r.yaml": HEAD + f"rules:\n  - id: r\n    when: '{when}'\n    then: {{k: 1}}\n"}
    )


@FUZZ
@given(text=yaml_texts, table=csv_texts)
def test_random_yaml_loads_or_fails_with_a_place(text: str, table: str) -> None:
    outcome_or_error({"r.yaml": text, "t.csv": table})


@FUZZ
@given(table=csv_texts, policy=st.sampled_from(["first", "collect", "unique"]))
def test_random_tables_load_or_fail_with_a_place(table: str, policy: str) -> None:
    rule_file = HEAD + f"hit_policy: {policy}\ntable: {{file: t.csv}}\n"
    outcome_or_error({"r.yaml": rule_file, "t.csv": table})


SHIPPED = {
    p.name: p.read_text(encoding="utf-8")
    for p in sorted(RULES.glob("*.*"))
    if p.suffix in (".yaml", ".csv")
}


@st.composite
def edited_packs(draw: st.DrawFn) -> dict[str, str]:
    """The shipped packs with one to four random edits: cuts, copies and insertions."""
    files = dict(SHIPPED)
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(files)))
        text = files[name]
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 80)))
        kind = draw(st.sampled_from(["cut", "copy", "insert"]))
        if kind == "cut":
            text = text[:start] + text[end:]
        elif kind == "copy":
            text = text[:start] + text[start:end] * draw(st.integers(2, 5)) + text[start:]
        else:
            text = text[:start] + draw(st.sampled_from(EDITS)) + text[start:]
        files[name] = text
    return files


@FUZZ
@given(files=edited_packs())
def test_edited_shipped_packs_load_or_fail_with_a_place(files: dict[str, str]) -> None:
    outcome_or_error(files)


def test_the_shipped_packs_load_as_they_are() -> None:
    with tempfile.TemporaryDirectory() as folder:
        shutil.copytree(RULES, Path(folder) / "rules", ignore=shutil.ignore_patterns("*.py"))
        assert load_pack(Path(folder) / "rules", FUNCTIONS).names
