"""Loading rule files: YAML and CSV with positions, pack folders, content hashes, models."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from tierwise.errors import ErrorSink, Pos, RulePackError
from tierwise.pack import load
from tierwise.pack.build import load_pack
from tierwise.pack.load import load_csv, load_yaml
from tierwise.pack.schema import validate_document
from tierwise.plugins.manager import function_registry

RULES = """\
decision: tier   # a comment
inputs:
  clv: {type: number, unit: EUR}
  since: date
rules:
  - id: gold
    when: "clv >= 10000"
    then: {tier: gold, rate: 0.5}
  - id: old
    when: >
      since < 2020-01-01
    then:
      tier: old
tests:
  - given: {clv: 20000, since: 2019-05-01}
    expect: {tier: gold}
"""


def test_yaml_values_and_positions(tmp_path: Path) -> None:
    path = tmp_path / "tier.yaml"
    path.write_text(RULES)
    sink = ErrorSink()
    doc = load_yaml(path, sink)
    assert doc is not None and not sink.errors
    assert doc.data["decision"] == "tier"
    assert doc.data["rules"][0]["then"] == {"tier": "gold", "rate": 0.5}
    assert doc.data["tests"][0]["given"]["since"] == dt.date(2019, 5, 1)
    assert type(doc.data["rules"]) is list and type(doc.data["rules"][0]) is dict
    assert doc.pos(("decision",)) == Pos(str(path), 1, 11)
    assert doc.key_pos(("inputs", "since")) == Pos(str(path), 4, 3)
    assert doc.pos(("rules", 1)) == Pos(str(path), 9, 5)
    assert doc.pos(("rules", 1, "then", "tier")) == Pos(str(path), 13, 13)
    assert doc.pos(("rules", 0, "when")) == Pos(str(path), 7, 11)
    assert doc.pos(("rules", 7, "nowhere")) == Pos(str(path), 6, 3)  # nearest parent


def test_locator_maps_offsets_through_quotes_and_folds(tmp_path: Path) -> None:
    path = tmp_path / "tier.yaml"
    path.write_text(RULES)
    doc = load_yaml(path, ErrorSink())
    assert doc is not None
    quoted = doc.locator(("rules", 0, "when"), "clv >= 10000")
    assert quoted(4) == Pos(str(path), 7, 16)  # the '>=' after the opening quote
    folded = doc.locator(("rules", 1, "when"), "since < 2020-01-01\n")
    assert folded(6) == Pos(str(path), 11, 13)  # '<' on the line after 'when: >'


def test_yaml_syntax_error_goes_to_the_sink(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("decision: x\nrules: [a, b\n")
    sink = ErrorSink()
    assert load_yaml(path, sink) is None
    (error,) = sink.errors
    assert error.kind == "YAML syntax" and error.pos.file == str(path) and error.pos.line >= 2


def test_unreadable_file_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("decision: caf\xe9\n".encode("latin-1"))
    sink = ErrorSink()
    assert load_yaml(path, sink) is None
    assert sink.errors[0].kind == "file error"


def test_csv_cells_keep_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        '\ufeffid,segment,tier\n\na,"vip, b2b",gold\nb, retail ,"silver"\n', encoding="utf-8"
    )
    sink = ErrorSink()
    table = load_csv(path, sink, Pos("x.yaml", 1, 1))
    assert table is not None and not sink.errors
    assert [name for name, _ in table.header] == ["id", "segment", "tier"]
    first, second = table.rows
    assert [cell for cell, _ in first] == ["a", "vip, b2b", "gold"]
    assert [(p.line, p.col) for _, p in first] == [(3, 1), (3, 3), (3, 14)]
    assert [cell for cell, _ in second] == ["b", "retail", "silver"]
    assert [(p.line, p.col) for _, p in second] == [(4, 1), (4, 3), (4, 12)]


def test_empty_csv_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\n\n")
    sink = ErrorSink()
    assert load_csv(path, sink, Pos("x.yaml", 1, 1)) is None
    assert sink.errors[0].kind == "CSV syntax" and "empty" in sink.errors[0].message


@pytest.mark.parametrize(
    ("text", "kind", "line", "col"),
    [
        ("- just a list\n", "wrong value type", 1, 1),
        ("decision: t\nrules: {a: 1}\n", "wrong value type", 2, 8),
        ("decision: 9lives\nrules: []\n", "wrong value type", 1, 11),
        ("decision: t\ninputs: {x: float}\nrules: []\n", "wrong value type", 2, 13),
        ("decision: t\nhit_policy: [first]\nrules: []\n", "unknown hit policy", 2, 13),
        ("decision: t\nrules:\n  - {id: a, when: x > 1}\n", "missing key", 3, 5),
        ("decsion: t\n", "unknown key", 1, 1),
    ],
)
def test_model_errors_have_positions(
    tmp_path: Path, text: str, kind: str, line: int, col: int
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    sink = ErrorSink()
    doc = load_yaml(path, sink)
    assert doc is not None
    validate_document(doc, sink)
    assert (kind, line, col) in [(e.kind, e.pos.line, e.pos.col) for e in sink.errors]


def write_pack(folder: Path) -> None:
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "a.yaml").write_text(
        "decision: a\ninputs: {x: integer}\nrules:\n  - {id: r, when: x > 1, then: {v: 1}}\n"
    )
    (folder / "sub" / "b.yml").write_text(
        "decision: b\ninputs: {x: integer}\nrules:\n  - {id: r, when: a.v == 1, then: {w: 2}}\n"
    )
    (folder / "notes.txt").write_text("not a rule file")


def test_pack_folder_reads_yaml_and_yml_recursively_in_dependency_order(tmp_path: Path) -> None:
    write_pack(tmp_path)
    pack = load_pack(tmp_path, function_registry())
    assert pack.names == ["a", "b"]
    assert pack.decision("b").depends_on == frozenset({"a"})
    assert pack.inputs["x"].kind == "integer"
    assert len(pack.files) == 2


def test_pack_hash_follows_content_only(tmp_path: Path) -> None:
    write_pack(tmp_path / "one")
    write_pack(tmp_path / "two")
    first = load_pack(tmp_path / "one", function_registry()).hash
    assert load_pack(tmp_path / "two", function_registry()).hash == first
    (tmp_path / "two" / "a.yaml").write_text(
        "decision: a\ninputs: {x: integer}\nrules:\n  - {id: r, when: x > 2, then: {v: 1}}\n"
    )
    assert load_pack(tmp_path / "two", function_registry()).hash != first


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(RulePackError) as caught:
        load_pack(tmp_path / "nowhere", function_registry())
    assert caught.value.errors[0].kind == "file error"
    (tmp_path / "empty").mkdir()
    with pytest.raises(RulePackError) as caught:
        load_pack(tmp_path / "empty", function_registry())
    assert "no rule files" in caught.value.errors[0].message


def test_inputs_declared_twice_must_agree(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "decision: a\ninputs: {x: integer}\nrules:\n  - {id: r, when: x > 1, then: {v: 1}}\n"
    )
    (tmp_path / "b.yaml").write_text(
        'decision: b\ninputs: {x: string}\nrules:\n  - {id: r, when: x == "1", then: {v: 1}}\n'
    )
    with pytest.raises(RulePackError) as caught:
        load_pack(tmp_path, function_registry())
    (error,) = caught.value.errors
    assert error.kind == "type mismatch" and Path(error.pos.file).name == "b.yaml"
    assert (error.pos.line, error.pos.col) == (2, 10)


def test_duplicate_decision_names(tmp_path: Path) -> None:
    text = "decision: a\ninputs: {x: integer}\nrules:\n  - {id: r, when: x > 1, then: {v: 1}}\n"
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text)
    with pytest.raises(RulePackError) as caught:
        load_pack(tmp_path, function_registry())
    (error,) = caught.value.errors
    assert error.kind == "duplicate decision" and "a.yaml:1:11" in error.message


def test_derived_facts_may_read_later_derived_facts(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "decision: t\ninputs: {clv: number}\nderive:\n  a: b + 1\n  b: clv * 2\n"
        "rules:\n  - {id: r, when: a > 3, then: {v: 1}}\n"
    )
    pack = load_pack(tmp_path, function_registry())
    assert [d.name for d in pack.decision("t").derived] == ["b", "a"]


def test_derived_facts_in_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "decision: t\ninputs: {clv: number}\nderive:\n  a: b + 1\n  b: a * 2\n  c: c + clv\n"
        "rules:\n  - {id: r, when: a > 3, then: {v: 1}}\n"
    )
    with pytest.raises(RulePackError) as caught:
        load_pack(tmp_path, function_registry())
    found = [(e.kind, e.pos.line, e.pos.col, e.message) for e in caught.value.errors]
    assert found == [
        ("derive cycle", 4, 3, "derived facts read each other in a cycle: a -> b -> a"),
        ("derive cycle", 6, 3, "derived facts read each other in a cycle: c -> c"),
    ]


def test_a_derived_fact_cannot_shadow_another_decisions_input(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "decision: a\ninputs: {clv: number}\nderive:\n  score: clv * 100\n"
        "rules:\n  - {id: r, when: score > 50, then: {v: 1}}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "decision: b\ninputs: {score: number}\n"
        "rules:\n  - {id: r, when: score > 50, then: {v: 1}}\n"
    )
    with pytest.raises(RulePackError) as caught:
        load_pack(tmp_path, function_registry())
    (error,) = caught.value.errors
    assert (Path(error.pos.file).name, error.pos.line, error.pos.col) == ("a.yaml", 4, 3)
    assert error.kind == "duplicate fact" and "b.yaml:2:10" in error.message


# YAML 1.2 scalars, as ruamel.yaml read them before PyYAML (whose YAML 1.1 would turn `no`
# into False and `1:30` into 90): a rule author writing `channel: no` gets the string "no".
SCALARS = [
    ("yes", "yes"),
    ("no", "no"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("N", "N"),
    ("true", True),
    ("True", True),
    ("FALSE", False),
    ("tRUE", "tRUE"),
    ("'true'", "true"),
    ('"True"', "True"),
    ("~", None),
    ("null", None),
    ("Null", None),
    ("", None),
    ("1_000", 1000),
    ("0o10", 8),
    ("010", 10),
    ("08", 8),
    ("0x1F", 31),
    ("0b101", 5),
    ("-0x1F", -31),
    ("0o8", "0o8"),
    ("1e3", 1000.0),
    ("1.0e+3", 1000.0),
    ("1.5E-3", 0.0015),
    ("1.", 1.0),
    (".5", 0.5),
    ("1_0.5", 10.5),
    (".inf", math.inf),
    ("-.inf", -math.inf),
    ("inf", "inf"),
    ("NaN", "NaN"),
    ("1:30", "1:30"),
    ("'1:30'", "1:30"),
    ("12:30:00", "12:30:00"),
    ("2024-02-29", dt.date(2024, 2, 29)),
    ("2024-02-29T10:00:00Z", dt.datetime(2024, 2, 29, 10, tzinfo=dt.UTC)),
    ("2024-02-29 10:00:00", dt.datetime(2024, 2, 29, 10)),
    (
        "2024-02-29T10:00:00.5+02:00",
        dt.datetime(2024, 2, 29, 10, 0, 0, 500000, dt.timezone(dt.timedelta(hours=2))),
    ),
    ("2024-02-29T10:00", "2024-02-29T10:00"),
    ("'010'", "010"),
    ("!!str 12", "12"),
    ("<<", "<<"),
]


@pytest.fixture(params=["libyaml", "python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with libyaml's composer and again with PyYAML's pure-Python fallback."""
    if request.param == "python":
        monkeypatch.setattr(load, "_CLoader", None)
    else:
        assert load._CLoader is not None, "PyYAML is installed without libyaml"
    return str(request.param)


def load_text(tmp_path: Path, text: str) -> tuple[load.Document | None, ErrorSink]:
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    sink = ErrorSink()
    return load_yaml(path, sink), sink


@pytest.mark.parametrize(("text", "value"), SCALARS)
def test_scalars_are_yaml_1_2(tmp_path: Path, loader: str, text: str, value: object) -> None:
    doc, sink = load_text(tmp_path, f"channel: {text}\n")
    assert doc is not None and not sink.errors
    got = doc.data["channel"]
    assert got == value and type(got) is type(value)


def test_the_nan_scalar(tmp_path: Path, loader: str) -> None:
    doc, _ = load_text(tmp_path, "x: .nan\n")
    assert doc is not None and math.isnan(doc.data["x"])


def test_keys_are_scalars_too(tmp_path: Path, loader: str) -> None:
    doc, _ = load_text(tmp_path, "no: a\n1: b\nnull: c\n")
    assert doc is not None
    assert doc.data == {"no": "a", "1": "b", "None": "c"}
    assert doc.key_pos((1,)) == Pos(str(tmp_path / "t.yaml"), 2, 1)  # an int key's path


def test_styles_and_positions_of_values(tmp_path: Path, loader: str) -> None:
    doc, _ = load_text(tmp_path, "a: 'x'\nb: \"y\"\nc: |\n  z\nd: >-\n  w\ne: [v, &n 1]\nf: *n\n")
    assert doc is not None
    assert doc.styles == {
        ("a",): "single",
        ("b",): "double",
        ("c",): "block",
        ("d",): "block",
        ("e",): "plain",
        ("e", 0): "plain",
        ("e", 1): "plain",
        ("f",): "plain",
    }
    assert [(p.line, p.col) for p in doc.values.values()] == [
        (1, 4), (2, 4), (3, 4), (5, 4), (7, 4), (7, 5), (7, 8), (7, 8)
    ]  # fmt: skip
    assert doc.data["f"] == 1  # the alias reads its anchor's value, and points there


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        (
            "a: 1\nb: 2\na: 3\n",
            3,
            1,
            'found duplicate key "a" with value "3" (original value: "1")',
        ),
        ("x: {k: 1, k: [2]}\n", 1, 11, 'found duplicate key "k" with value "[2]"'),
        ("x: *nope\n", 1, 4, "found undefined alias 'nope'"),
        ("a: 1\n b: 2\n", 2, 3, "mapping values are not allowed here"),
        ("a: @x\n", 1, 4, "found character '@' that cannot start any token"),
        ("a: 1\n---\nb: 2\n", 2, 1, "but found another document"),
        ("as_of: 2024-02-30\n", 1, 8, "'2024-02-30' is not a valid date: day is out of range"),
        ("x:\n  <<: 5\n", 2, 7, "expected a mapping or list of mappings for merging"),
        ("? [a]\n: 1\n", 1, 3, "a key must be a single value, not a list or a mapping"),
        ("a: &a [*a]\n", 1, 4, "an alias refers to a node that contains it"),
        ("a: 1\nb: b\x07c\n", 2, 5, "unacceptable character #x0007"),
    ],
)
def test_yaml_errors_name_their_place(
    tmp_path: Path, loader: str, text: str, line: int, col: int, message: str
) -> None:
    doc, sink = load_text(tmp_path, text)
    assert doc is None
    (error,) = sink.errors
    assert (error.kind, error.pos.line, error.pos.col) == ("YAML syntax", line, col)
    assert message in error.message


def test_merge_keys_yield_to_the_mappings_own(tmp_path: Path, loader: str) -> None:
    text = (
        "base: &b {tier: gold, pct: 5}\nmore: &m {pct: 7, cap: 9}\nx:\n  <<: [*b, *m]\n  cap: 1\n"
    )
    doc, sink = load_text(tmp_path, text)
    assert doc is not None and not sink.errors
    assert doc.data["x"] == {"tier": "gold", "pct": 5, "cap": 1}
    assert (doc.pos(("x", "tier")).line, doc.pos(("x", "cap")).line) == (1, 5)


def test_an_empty_value_points_after_its_key(tmp_path: Path, loader: str) -> None:
    doc, _ = load_text(tmp_path, "when:\nthen: x\n")
    assert doc is not None and doc.data["when"] is None
    assert (doc.pos(("when",)).line, doc.pos(("when",)).col) == (1, 6)


def test_crlf_files_read_as_before(tmp_path: Path) -> None:
    """Files are read with a size bound now, still as Path.read_text read lines: a pack
    written with CRLF or CR line ends keeps the hash of the same pack written with LF."""
    rule = "decision: t\ninputs: {x: integer}\ntable: {file: t.csv}\n"
    table = "id,x,v\nr,> 1,1\n"
    hashes = []
    for end in ("\n", "\r\n", "\r"):
        folder = tmp_path / f"pack{len(hashes)}"
        folder.mkdir()
        (folder / "t.yaml").write_bytes(rule.replace("\n", end).encode())
        (folder / "t.csv").write_bytes(table.replace("\n", end).encode())
        hashes.append(load_pack(folder, function_registry()).hash)
    assert len(set(hashes)) == 1


def test_read_text_refuses_what_is_not_a_small_regular_file(tmp_path: Path) -> None:
    with pytest.raises(load.FileProblem, match="must be a regular file"):
        load.read_text(tmp_path, "a rule file")
    with pytest.raises(load.FileProblem, match="cannot read a rule file: No such file"):
        load.read_text(tmp_path / "missing.yaml", "a rule file")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (load.MAX_FILE_BYTES + 1))
    with pytest.raises(load.FileProblem, match="may be at most 10 MB"):
        load.read_text(big, "a rule file")
    big.write_bytes(b"#" * load.MAX_FILE_BYTES)
    assert len(load.read_text(big, "a rule file")) == load.MAX_FILE_BYTES
