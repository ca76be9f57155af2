"""Hostile rule files (issue 11 item 5): each case that exhausted the machine, read files
outside the pack or gave a traceback is now an error at file:line:col that names the limit.

Every case loads through `load_pack` (what the CLI, the engines and the service call) and
must raise RulePackError, never anything else; a few go through `tierwise check` too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tierwise import Engine
from tierwise.batch.engine import BatchEngine
from tierwise.errors import RuleError, RulePackError
from tierwise.impact.static import static_diff
from tierwise.lang.parse import MAX_DEPTH, depth, parse_expression
from tierwise.pack import load
from tierwise.pack.build import load_pack
from tierwise.plugins.cli import main
from tierwise.plugins.manager import function_registry
from tierwise.verify.analyze import analyze

AS_OF = dt.date(2024, 3, 1)
HEAD = "decision: d\ninputs: {x: number, y: number, e: string}\n"


def errors_of(path: Path) -> list[RuleError]:
    """The errors of loading path: it must fail with RulePackError and nothing else."""
    with pytest.raises(RulePackError) as caught:
        load_pack(path, function_registry())
    return caught.value.errors


def only_error(path: Path) -> RuleError:
    (error,) = errors_of(path)
    return error


def place(error: RuleError) -> tuple[str, int, int]:
    return Path(error.pos.file).name, error.pos.line, error.pos.col


@pytest.fixture(params=["libyaml", "python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each YAML case with libyaml's composer and with PyYAML's pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(load, "_CLoader", None)
    return str(request.param)


# -- YAML that grows without bound ------------------------------------------------------

LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)


def test_a_billion_laughs(tmp_path: Path, loader: str) -> None:
    assert len(LAUGHS) < 700  # 9^9 "lol"s once expanded
    (tmp_path / "laughs.yaml").write_text(LAUGHS)
    error = only_error(tmp_path)
    assert error.kind == "limit"
    assert error.message == "aliases (*name) may add at most 20,000 values to a file"
    name, line, col = place(error)
    assert name == "laughs.yaml"
    assert LAUGHS.splitlines()[line - 1][col - 1 :].startswith("&")  # the list of aliases


def test_a_merge_bomb(tmp_path: Path, loader: str) -> None:
    text = "m0: &m0 {k: 1}\n" + "".join(
        f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], n{i}: {{<<: [*m{i - 1}, *m{i - 1}]}}}}\n"
        for i in range(1, 40)
    )
    (tmp_path / "bomb.yaml").write_text(text)
    error = only_error(tmp_path)
    assert (error.kind, error.message) == (
        "limit",
        "aliases (*name) may add at most 20,000 values to a file",
    )


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
        "a: " + "{b: " * 10_000 + "1" + "}" * 10_000 + "\n",
        "".join("  " * i + "a:\n" for i in range(3000)) + "  " * 3000 + "b: 1\n",
        "a: " + "[" * 100 + "]" * 100 + "\n",  # one level past the limit
    ],
    ids=["flow lists", "flow mappings", "block mappings", "101 levels"],
)
def test_yaml_nested_deeper_than_the_limit(tmp_path: Path, loader: str, text: str) -> None:
    (tmp_path / "deep.yaml").write_text(text)
    error = only_error(tmp_path)
    assert error.kind == "limit"
    assert error.message == "a YAML file may nest at most 100 levels of lists and mappings"
    assert place(error)[1:] in [(1, 103), (1, 400), (101, 201)]  # where level 101 opens


def test_yaml_nested_100_levels_loads(tmp_path: Path, loader: str) -> None:
    (tmp_path / "d.yaml").write_text(
        HEAD + "rules: [{id: r, when: x > 1, then: {k: 1}}]\n"
        "tests: [{given: {x: 2}, expect: {k: 1}, name: " + "[" * 97 + "]" * 97 + "}]\n"
    )
    assert errors_of(tmp_path)[0].kind == "wrong value type"  # a list is no test name


def test_an_alias_nested_inside_itself_counts_its_levels(tmp_path: Path, loader: str) -> None:
    text = "a: &a " + "[" * 60 + "1" + "]" * 60 + "\nb: " + "[" * 50 + "*a" + "]" * 50 + "\n"
    (tmp_path / "deep.yaml").write_text(text)
    assert only_error(tmp_path).message.startswith("a YAML file may nest at most 100 levels")


def test_a_long_string(tmp_path: Path, loader: str) -> None:
    (tmp_path / "s.yaml").write_text(HEAD + "description: " + "x" * 100_001 + "\nrules: []\n")
    error = only_error(tmp_path)
    assert (error.kind, error.message) == (
        "limit",
        "a string may have at most 100,000 characters",
    )
    assert place(error) == ("s.yaml", 3, 14)


def test_a_string_of_100000_characters_loads(tmp_path: Path) -> None:
    text = HEAD + "description: " + "x" * 100_000 + "\n"
    (tmp_path / "s.yaml").write_text(text + "rules: [{id: r, when: x > 1, then: {k: 1}}]\n")
    assert len(load_pack(tmp_path, function_registry()).decisions[0].description) == 100_000


def test_a_rule_file_past_10_mb(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text(HEAD + "rules: []\n#" + "x" * (10 * 2**20) + "\n")
    error = only_error(tmp_path)
    assert (error.kind, place(error)) == ("file error", ("big.yaml", 1, 1))
    assert error.message == "a rule file may be at most 10 MB"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_rule_file_that_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    error = only_error(tmp_path / "pipe.yaml")  # named directly: a folder skips it
    assert error.message == "a rule file must be a regular file, not a folder, a FIFO or a device"


# -- decision tables that read the machine ----------------------------------------------


def table_pack(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.yaml").write_text(HEAD + f"table: {{file: '{name}'}}\n")
    return folder


@pytest.mark.parametrize(
    "name", ["/dev/zero", "/etc/hostname", "../outside.csv", "sub/../../outside.csv"]
)
def test_a_table_outside_the_pack_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "outside.csv").write_text("id,x,k\nr,1,secret\n")
    error = only_error(table_pack(tmp_path / "pack", name))
    assert error.kind == "file error" and place(error) == ("t.yaml", 3, 15)
    assert error.message.startswith(f"decision table {name!r} is outside the pack's folder")


def test_a_table_linked_to_a_file_outside_the_pack_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.csv").write_text("id,x,k\nr,1,secret\n")
    pack = table_pack(tmp_path / "pack", "t.csv")
    (pack / "t.csv").symlink_to(tmp_path / "outside.csv")
    assert "outside the pack's folder" in only_error(pack).message


def test_tables_inside_the_pack_load(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    (pack / "sub").mkdir(parents=True)
    (pack / "tables").mkdir()
    (pack / "tables" / "t.csv").write_text("id,x,k\nr,> 1,one\n")
    (pack / "link.csv").symlink_to(pack / "tables" / "t.csv")
    (pack / "sub" / "a.yaml").write_text(HEAD + "table: {file: ../tables/t.csv}\n")
    (pack / "b.yaml").write_text(HEAD.replace(": d", ": b") + "table: {file: link.csv}\n")
    engine = Engine.from_path(pack)
    assert engine.decide({"x": 2}, as_of=AS_OF).output("d") == {"k": "one"}
    assert engine.decide({"x": 2}, as_of=AS_OF).output("b") == {"k": "one"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_table_that_is_a_fifo_or_a_folder(tmp_path: Path) -> None:
    pack = table_pack(tmp_path / "pack", "pipe.csv")
    os.mkfifo(pack / "pipe.csv")
    assert "must be a regular file" in only_error(pack).message  # and no hang
    (pack / "t.yaml").write_text(HEAD + "table: {file: folder}\n")
    (pack / "folder").mkdir()
    assert "must be a regular file" in only_error(pack).message


def test_a_table_past_the_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pack = table_pack(tmp_path / "pack", "t.csv")
    monkeypatch.setattr(load, "MAX_TABLE_ROWS", 1000)  # 100,000 in use: the same code path
    (pack / "t.csv").write_text("id,x,k\n" + "".join(f"r{k},{k},a\n" for k in range(1001)))
    error = only_error(pack)
    assert (error.kind, error.message) == ("limit", "a decision table may have at most 1,000 rows")
    assert place(error) == ("t.csv", 1002, 1)
    (pack / "t.csv").write_text("id,x,k\n" + "".join(f"r{k},{k},a\n" for k in range(1000)))
    assert len(load_pack(pack, function_registry()).decisions[0].rules) == 1000
    (pack / "t.csv").write_text("id,x,k\nr,1," + "a" * 100_001 + "\n")
    error = only_error(pack)
    assert (error.kind, place(error)) == ("limit", ("t.csv", 2, 5))
    (pack / "t.csv").write_text("id,x,k\n" + "#" * (10 * 2**20))
    assert only_error(pack).message.endswith("may be at most 10 MB")


# -- expressions that nest too deep -----------------------------------------------------


def rule_pack(folder: Path, when: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "r.yaml").write_text(
        HEAD + f"rules:\n  - id: r\n    when: '{when}'\n    then: {{k: 1}}\n"
    )
    return folder


@pytest.mark.parametrize(
    ("when", "col"),
    [
        ("(" * 123 + "x" + ")" * 123 + " > 1", 12 + 32),
        ("not " * 494 + "x > 1", 12 + 4 * 32),
        ("-" * 200 + "x > 1", 12 + 32),
        ("[" * 40 + "]" * 40, 12 + 32),
        ("round(" * 40 + "x" + ")" * 40 + " > 1", 12 + 6 * 32 + 5),
        ("x" + " + 1" * 100 + " > 1", 12 + 1 + 4 * 31 + 1),
    ],
    ids=["parentheses", "nots", "minuses", "lists", "calls", "a long sum"],
)
def test_an_expression_nested_too_deep(tmp_path: Path, when: str, col: int) -> None:
    error = only_error(rule_pack(tmp_path, when))
    assert (error.kind, error.message) == (
        "expression syntax",
        f"an expression may nest at most {MAX_DEPTH} levels",
    )
    assert place(error) == ("r.yaml", 5, col)


def test_a_table_cell_nested_too_deep(tmp_path: Path) -> None:
    pack = table_pack(tmp_path, "t.csv")
    (pack / "t.csv").write_text("id,x,k\nr," + "not(" * 40 + "1" + ")" * 40 + ",a\n")
    error = only_error(pack)
    assert error.message.startswith("an expression may nest at most")


def test_derived_facts_nest_as_written_out(tmp_path: Path) -> None:
    derive = "".join(f"  d{k}: {'x' if k == 0 else f'd{k - 1}'} + y\n" for k in range(40))
    (tmp_path / "r.yaml").write_text(
        HEAD + "derive:\n" + derive + "rules: [{id: r, when: d39 > 0, then: {k: 1}}]\n"
    )
    error = only_error(tmp_path)  # where the chain passes the limit, not at every later link
    assert place(error) == ("r.yaml", 35, 3)  # d31: x + y + ... 32 times, then `+ y` once more
    assert error.message == (
        "an expression may nest at most 32 levels, counting the derived facts it reads "
        "as written out; this one nests 33"
    )


def test_facts_files_derived_facts_nest_as_written_out(tmp_path: Path) -> None:
    """A facts file's derived facts are inlined by the solver and the SQL compiler too, and
    a decision reading the end of a shared chain counts the chain's depth."""
    derive = "".join(f"  d{k}: {'x' if k == 0 else f'd{k - 1}'} + 1\n" for k in range(20))
    (tmp_path / "f.yaml").write_text("facts: f\ninputs: {x: number}\nderive:\n" + derive)
    (tmp_path / "r.yaml").write_text(
        "decision: r\nderive:\n"
        + "".join(f"  e{k}: {'d19' if k == 0 else f'e{k - 1}'} + 1\n" for k in range(20))
        + "rules: [{id: r, when: e19 > 0, then: {k: 1}}]\n"
    )
    error = only_error(tmp_path)
    assert place(error) == ("r.yaml", 3 + 11, 3)  # d0..d19 nest 21 levels, e0..e10 11 more
    (tmp_path / "f.yaml").write_text(
        "facts: f\ninputs: {x: number}\nderive:\n"
        + "".join(f"  d{k}: {'x' if k == 0 else f'd{k - 1}'} + 1\n" for k in range(40))
    )
    (tmp_path / "r.yaml").write_text("decision: r\nrules: [{id: r, when: d39 > 0, then: {k: 1}}]\n")
    assert place(only_error(tmp_path)) == ("f.yaml", 4 + 31, 3)


def test_long_chains_read_backwards(tmp_path: Path) -> None:
    """Each decision and derived fact reads the next one: ordering them recursed once per
    link, and 1,100 links were a RecursionError."""
    derive = "".join(f"  d{k}: {'x' if k == 1099 else f'd{k + 1}'} + 1\n" for k in range(1100))
    (tmp_path / "r.yaml").write_text(
        HEAD + "derive:\n" + derive + "rules: [{id: r, when: d0 > 0, then: {k: 1}}]\n"
    )
    assert place(only_error(tmp_path)) == ("r.yaml", 4 + 1099 - 31, 3)
    (tmp_path / "r.yaml").unlink()
    (tmp_path / "z.yaml").write_text(
        "decision: z\ninputs: {x: number}\nrules: [{id: r, then: {v: 1}}]\n"
    )
    chain = [f"c{k:04}" for k in range(1100)] + ["z"]
    for name, reads in itertools.pairwise(chain):
        (tmp_path / f"{name}.yaml").write_text(
            f"decision: {name}\nrules: [{{id: r, when: {reads}.v == 1, then: {{v: 1}}}}]\n"
        )
    error = only_error(tmp_path)
    assert (error.kind, place(error)) == ("limit", ("c1068.yaml", 1, 11))


def test_decisions_read_each_other_at_most_32_deep(tmp_path: Path) -> None:
    (tmp_path / "d0.yaml").write_text(
        "decision: d0\ninputs: {x: number}\nrules: [{id: r, then: {v: 1}}]\n"
    )
    for k in range(1, 40):
        (tmp_path / f"d{k}.yaml").write_text(
            f"decision: d{k}\nrules: [{{id: r, when: d{k - 1}.v == 1, then: {{v: 1}}}}]\n"
        )
    error = only_error(tmp_path)
    assert (error.kind, place(error)) == ("limit", ("d32.yaml", 1, 11))


def _at_limit(shape: Callable[[int], str]) -> str:
    """The deepest expression of this shape that the parser accepts."""
    for k in range(MAX_DEPTH + 1, 0, -1):
        text = shape(k)
        try:
            if depth(parse_expression(text, lambda o: load.Pos("f", 1, o + 1))) <= MAX_DEPTH:
                return text
        except Exception:  # too deep: try one level less
            continue
    raise AssertionError("no expression of this shape parses")


SHAPES: dict[str, Callable[[int], str]] = {
    "parentheses": lambda k: "(" * k + "x" + ")" * k + " > 0",
    "nots": lambda k: "not " * k + "x > 0",
    "minuses": lambda k: "-" * k + " x > 0",
    "a sum": lambda k: "x" + " + y * 2" * k + " > 0",
    "ors": lambda k: "(" * k + "x > 0" + " or y > 0)" * k,
    "and nots": lambda k: "(not " * k + "x > 0 and y < 3" + ")" * k,
    "calls": lambda k: "round(" * k + "x" + ")" * k + " > 0",
}


def _from_a_deep_stack(frames: int, work: Callable[[], Any]) -> Any:
    """Run work under `frames` more stack frames, as inside a web framework or a test runner."""
    return work() if frames == 0 else _from_a_deep_stack(frames - 1, work)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_stage_takes_an_expression_at_the_limit(tmp_path: Path, shape: str) -> None:
    """What the parser accepts, every stage that walks it recursively can take, even called
    from 150 frames deep: load and type checking, durable, SQL, the solver, the diff."""
    when = _at_limit(SHAPES[shape])
    path = rule_pack(tmp_path, when)
    engine = _from_a_deep_stack(150, lambda: Engine.from_path(path))
    outcome = _from_a_deep_stack(150, lambda: engine.decide({"x": 3, "y": 1}, as_of=AS_OF))
    assert outcome.decisions["d"].error is None
    _from_a_deep_stack(150, lambda: analyze(engine.pack))
    _from_a_deep_stack(150, lambda: static_diff(engine.pack, engine.pack))
    batch = _from_a_deep_stack(150, lambda: BatchEngine(engine.pack))
    columns = {"x": "DOUBLE", "y": "DOUBLE"}
    for dialect in ("duckdb", "sqlite", "postgresql"):
        _from_a_deep_stack(150, lambda d=dialect: batch.sql(d, "t", columns))
    import pyarrow as pa

    table = pa.table({"client_id": ["1"], "x": [3.0], "y": [1.0]})
    decided = _from_a_deep_stack(150, lambda: batch.decide_arrow(table, AS_OF))
    assert decided.num_rows == 1


# -- CSV tables -----------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", ["a;b", "a b", "a,b", "1st", "gold-tier", "é"])
def test_a_table_rule_id_must_be_a_word(tmp_path: Path, rule_id: str) -> None:
    pack = table_pack(tmp_path, "t.csv")
    cell = f'"{rule_id}"' if "," in rule_id else rule_id
    (pack / "t.csv").write_text(f"id,x,k\nok,> 5,a\n{cell},> 1,b\n", encoding="utf-8")
    error = only_error(pack)
    assert (error.kind, place(error)) == ("wrong value type", ("t.csv", 3, 1))
    assert error.message == f"rule id {rule_id!r} is not a word"


def test_inline_table_rule_ids_are_words_too(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(HEAD + "table:\n  rows:\n    - {id: 'a;b', x: 1, k: a}\n")
    error = only_error(tmp_path)
    assert (error.kind, place(error)) == ("wrong value type", ("t.yaml", 5, 12))


@pytest.mark.parametrize(
    ("cell", "matches", "misses"),
    [
        ('"""a\\""b"""', 'a"b', "a"),  # CSV for "a\"b": the text a"b
        ('"""\\"""", b"', '"', "b2"),  # "\"", b: a quote, or b
        ("'it\\'s'", "it's", "it"),
    ],
)
def test_escaped_quotes_in_a_cell_mean_their_text(
    tmp_path: Path, cell: str, matches: str, misses: str
) -> None:
    pack = table_pack(tmp_path, "t.csv")
    (pack / "t.csv").write_text(f"id,e,k\nr,{cell},hit\n")
    engine = Engine.from_path(pack)
    assert engine.decide({"e": matches}, as_of=AS_OF).output("d") == {"k": "hit"}
    assert engine.decide({"e": misses}, as_of=AS_OF).decisions["d"].status == "no_decision"


@pytest.mark.parametrize(
    "cell",
    ['"a ""b"" c"', '"""a""b"""', '"""a""""b"""', '"""a"', "'a\\'"],
    ids=["doubled quotes", "quote inside", "doubled inside", "unclosed", "escaped end"],
)
def test_quotes_that_mean_nothing_are_errors_not_empty_rules(tmp_path: Path, cell: str) -> None:
    pack = table_pack(tmp_path, "t.csv")
    (pack / "t.csv").write_text(f"id,e,k\nr,{cell},hit\n")
    error = only_error(pack)
    assert error.kind == "expression syntax" and place(error)[:2] == ("t.csv", 2)


def test_an_unknown_key_that_looks_like_a_type(tmp_path: Path) -> None:
    """pydantic labels union branches `list[...]`: a key with a bracket was taken for one,
    dropped from the error's place, and the report failed with IndexError."""
    (tmp_path / "r.yaml").write_text(
        "decision: d\nhit_po[licy: collect\nrules: [{id: r, then: {k: 1}}]\n"
    )
    error = only_error(tmp_path)
    assert (error.kind, place(error)) == ("unknown key", ("r.yaml", 2, 1))
    assert error.message == "unknown key 'hit_po[licy' in the file"


def test_check_reports_hostile_files_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "laughs.yaml").write_text(LAUGHS)
    (tmp_path / "deep.yaml").write_text(
        HEAD.replace(": d", ": deep") + "rules: [{id: r, when: '" + "(" * 200 + "x', then: {}}]\n"
    )
    table_pack(tmp_path, "/dev/zero")
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "3 error(s) in" in result.output
    for needle in ("laughs.yaml:", "at most 32 levels", "outside the pack's folder"):
        assert needle in result.output


@pytest.mark.parametrize("shape", ["a sum", "calls", "minuses"])
def test_sql_grows_linearly_with_nesting(tmp_path: Path, shape: str) -> None:
    """Guards that repeat an operand (overflow, integer width, a function's null check)
    compute it once: five more levels of nesting add a bounded amount of SQL in every
    dialect, where the SQL of a scorecard of ten additions was 197 MB on PostgreSQL."""
    columns = {"x": "DOUBLE", "y": "DOUBLE"}

    def sizes(k: int) -> dict[str, int]:
        batch = BatchEngine(Engine.from_path(rule_pack(tmp_path / f"{k}", SHAPES[shape](k))).pack)
        return {d: len(batch.sql(d, "t", columns)) for d in ("duckdb", "sqlite", "postgresql")}

    small, large, larger = sizes(5), sizes(10), sizes(15)
    for dialect in small:
        growth, more = large[dialect] - small[dialect], larger[dialect] - large[dialect]
        assert more <= 3 * growth, (dialect, small[dialect], large[dialect], larger[dialect])
