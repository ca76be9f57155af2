"""One test per class of rule-pack error (issue 2 item 3): file, line, column, message, hint.

Each test writes a small broken pack and checks where the error points, in editor terms
(1-based line and column), and that its message and hint tell the author what to do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tierwise.errors import RuleError, RulePackError
from tierwise.pack.build import load_pack
from tierwise.plugins.manager import function_registry

HEAD = "decision: t\ninputs:\n  clv: number\n  name: string\nrules:\n"


def errors_of(folder: Path, files: dict[str, str]) -> list[RuleError]:
    """Write the files into folder and load them as a pack; the errors it reports."""
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    with pytest.raises(RulePackError) as caught:
        load_pack(folder, function_registry())
    return caught.value.errors


def only(errors: list[RuleError]) -> RuleError:
    assert len(errors) == 1, "\n".join(map(str, errors))
    return errors[0]


def where(error: RuleError) -> tuple[str, int, int]:
    return Path(error.pos.file).name, error.pos.line, error.pos.col


def test_yaml_syntax(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    when: clv > 1\n     then: {tier: gold}\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "YAML syntax"
    assert where(error) == ("t.yaml", 8, 10)  # the ':' after the mis-indented 'then'
    assert "mapping values are not allowed" in error.message
    assert "indentation" in error.hint


def test_unknown_key(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    when: clv > 1\n    then: {tier: gold}\n    becuase: typo\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "unknown key"
    assert where(error) == ("t.yaml", 9, 5)
    assert "'becuase'" in error.message
    assert "because" in error.hint


def test_wrong_value_type(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    when: clv > 1\n    then: {tier: gold}\n    priority: high\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "wrong value type"
    assert where(error) == ("t.yaml", 9, 15)  # the value 'high'
    assert "priority" in error.message and "'high'" in error.message
    assert "whole number" in error.hint


def test_expression_syntax_points_at_the_column(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    when: clv > > 1\n    then: {tier: gold}\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "expression syntax"
    assert where(error) == ("t.yaml", 7, 17)  # the second '>'
    assert "expected a value but found '>'" in error.message
    assert error.hint


@pytest.mark.parametrize(
    "when",
    ['"name == \\"x\\" and clv > > 1"', "'name == ''x'' and clv > > 1'"],
    ids=["double-quoted", "single-quoted"],
)
def test_expression_syntax_column_through_quote_escapes(tmp_path: Path, when: str) -> None:
    text = HEAD + f"  - id: a\n    when: {when}\n    then: {{tier: gold}}\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "expression syntax"
    assert where(error) == ("t.yaml", 7, 36)  # the second '>', after the escaped quotes


def test_expression_syntax_in_a_folded_block(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    when: >\n      name == 'x'\n      and clv > > 1\n"
    text += "    then: {tier: gold}\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert where(error) == ("t.yaml", 9, 17)


def test_unknown_fact(tmp_path: Path) -> None:
    text = HEAD + '  - id: a\n    when: clv > 1 and nam == "x"\n    then: {tier: gold}\n'
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "unknown fact"
    assert where(error) == ("t.yaml", 7, 23)
    assert "'nam'" in error.message
    assert "'name'" in error.hint  # did you mean


def test_unknown_function(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    when: clv > 1 and dayz_since(clv) > 3\n    then: {tier: gold}\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "unknown function"
    assert where(error) == ("t.yaml", 7, 23)
    assert "'dayz_since'" in error.message
    assert "days_since" in error.hint


def test_type_mismatch_string_fact_with_number(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    when: clv > 1 and name == 5\n    then: {tier: gold}\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "type mismatch"
    assert where(error) == ("t.yaml", 7, 23)
    assert error.message.startswith("cannot compare a string with an integer")
    assert "name == 5" in error.message
    assert "quotes" in error.hint


def test_duplicate_rule_ids(tmp_path: Path) -> None:
    rule = "  - id: a\n    when: clv > 1\n    then: {tier: gold}\n"
    error = only(errors_of(tmp_path, {"t.yaml": HEAD + rule + rule}))
    assert error.kind == "duplicate rule id"
    assert where(error) == ("t.yaml", 9, 5)  # the second rule
    assert "'a'" in error.message and "t.yaml:6:5" in error.message
    assert "unique" in error.hint


def test_unknown_hit_policy(tmp_path: Path) -> None:
    text = HEAD.replace("decision: t\n", "decision: t\nhit_policy: firts\n")
    text += "  - id: a\n    when: clv > 1\n    then: {tier: gold}\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert error.kind == "unknown hit policy"
    assert where(error) == ("t.yaml", 2, 13)
    assert "'firts'" in error.message
    assert "first, unique, priority, any, collect" in error.hint


def test_cycle_between_decisions(tmp_path: Path) -> None:
    a = "decision: a\ninputs: {clv: number}\nrules:\n"
    a += '  - id: r\n    when: b.tier == "gold"\n    then: {tier: gold}\n'
    b = "decision: b\ninputs: {clv: number}\nrules:\n"
    b += '  - id: r\n    when: clv > 1 and c.tier == "gold"\n    then: {tier: gold}\n'
    c = "decision: c\ninputs: {clv: number}\nrules:\n"
    c += '  - id: r\n    when: a.tier != "gold"\n    then: {tier: gold}\n'
    error = only(errors_of(tmp_path, {"a.yaml": a, "b.yaml": b, "c.yaml": c}))
    assert error.kind == "decision cycle"
    assert where(error) == ("a.yaml", 1, 11)
    assert "a -> b -> c -> a" in error.message
    assert error.hint


def test_every_error_of_a_pack_in_one_run(tmp_path: Path) -> None:
    broken_yaml = "decision: [\n"
    unknown_key = HEAD + "  - id: a\n    when: clv > 1\n    then: {tier: gold}\n    note: x\n"
    several = (
        HEAD
        + "  - id: a\n    when: clv > > 1\n    then: {tier: gold}\n"
        + '  - id: a\n    when: nme == "x"\n    then: {tier: gold}\n'
        + "  - id: c\n    when: name > 3\n    then: {tier: gold}\n"
    )
    errors = errors_of(
        tmp_path,
        {
            "a.yaml": broken_yaml,
            "b.yaml": unknown_key.replace("decision: t", "decision: u"),
            "c.yaml": several,
        },
    )
    found = {(where(e), e.kind) for e in errors}
    assert found == {
        (("a.yaml", 2, 1), "YAML syntax"),
        (("b.yaml", 9, 5), "unknown key"),
        (("c.yaml", 7, 17), "expression syntax"),
        (("c.yaml", 9, 5), "duplicate rule id"),
        (("c.yaml", 10, 11), "unknown fact"),
        (("c.yaml", 13, 11), "type mismatch"),
    }
    text = str(RulePackError(errors))
    assert text.startswith("6 errors in rule pack")
    assert "c.yaml:10:11: unknown fact" in text


def test_unknown_keys_do_not_hide_the_files_other_errors(tmp_path: Path) -> None:
    text = (
        "decision: t\ninputs:\n  clv: {type: number, unti: EUR}\nrules:\n"
        "  - id: a\n    when: clv > > 1\n    then: {tier: gold}\n    becuase: typo\n"
        "  - id: a\n    when: nme == 1\n    then: {tier: gold}\n"
    )
    found = [(where(e), e.kind) for e in errors_of(tmp_path, {"t.yaml": text})]
    assert found == [
        (("t.yaml", 3, 23), "unknown key"),
        (("t.yaml", 6, 17), "expression syntax"),
        (("t.yaml", 8, 5), "unknown key"),
        (("t.yaml", 9, 5), "duplicate rule id"),
        (("t.yaml", 10, 11), "unknown fact"),
    ]


def test_a_mistyped_type_name_lists_the_type_names(tmp_path: Path) -> None:
    text = "decision: t\ninputs:\n  clv: nubmer\nrules:\n  - {id: a, when: clv > 1, then: {v: 1}}\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert (where(error), error.kind) == (("t.yaml", 3, 8), "wrong value type")
    assert "'number'" in error.message and "'nubmer'" in error.message


def test_a_rule_priority_outside_first_hit_is_an_error(tmp_path: Path) -> None:
    text = HEAD.replace("decision: t\n", "decision: t\nhit_policy: collect\n")
    text += "  - id: a\n    when: clv > 1\n    then: {tier: gold}\n    priority: 5\n"
    error = only(errors_of(tmp_path, {"t.yaml": text}))
    assert (where(error), error.kind) == (("t.yaml", 10, 15), "wrong value type")
    assert "only orders rules under hit_policy: first" in error.message
    assert "priority_order" in error.hint
