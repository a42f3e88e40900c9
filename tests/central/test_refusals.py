"""Refusals are one shape: every refusal a rule states carries the rule's id, and each kind
of refusal has one HTTP status, the one docs/api.md's Errors table gives it — walked over
every ``raise`` in central/ and tried over HTTP once per kind."""

# ruff: noqa: N802

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import central.api.errors
import central.refusals
from central.refusals import DeskError, RuleRefused
from central.services.context import Desk
from central.services.renovation import FileRenovation, file_renovation

from .conftest import Staffs, household_of, person, row_counts

ROOT = Path(__file__).resolve().parents[2]
CENTRAL = ROOT / "central"
API_DOC = ROOT / "docs" / "api.md"
# A refusal whose message cites a rule: "(rule H4)", "rule I7:", "（规则 L2）", "（I2）".
CITES_RULE = re.compile(r"\brule [A-Z]\d\b|规则\s*[A-Z]\d|[（(][A-Z]\d[）)]")
# Desk rules beyond domain-rules.md, documented in docs/central.md.
DESK_RULES = {"V1"}


def _refusal_classes() -> dict[str, type[DeskError]]:
    found: dict[str, type[DeskError]] = {}
    for module in (central.refusals, central.api.errors):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, DeskError) and value is not DeskError:
                found[name] = value
    return found


def _documented_statuses() -> dict[str, set[int]]:
    """kind -> the statuses docs/api.md's Errors table gives it."""
    text = API_DOC.read_text("utf-8")
    table = text[text.index("## Errors"):text.index("```json", text.index("## Errors"))]
    statuses: dict[str, set[int]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            for kind in re.findall(r"`([a-z_]+)`", cells[1]):
                statuses.setdefault(kind, set()).add(int(cells[0]))
    return statuses


def _raises() -> list[tuple[str, int, str, list[str]]]:
    """Every ``raise Refusal(...)`` in central/: (file, line, class, its string literals)."""
    classes = _refusal_classes()
    out = []
    for path in sorted(CENTRAL.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in classes:
                    texts = [n.value for n in ast.walk(node.exc)
                             if isinstance(n, ast.Constant) and isinstance(n.value, str)]
                    first = node.exc.args[0] if node.exc.args else None
                    if name == "RuleRefused" and not (isinstance(first, ast.Constant)
                                                      and isinstance(first.value, str)):
                        # The rule id is passed on from a caller (a variable): the
                        # caller's literal is what gets checked.
                        texts = []
                    out.append((str(path.relative_to(ROOT)), node.lineno, name, texts))
    return out


def test_each_kind_of_refusal_has_the_one_status_docs_api_gives_it() -> None:
    documented = _documented_statuses()
    for name, cls in _refusal_classes().items():
        assert documented.get(cls.kind) == {cls.http_status}, (name, cls.kind)
    raised = {name for _, _, name, _ in _raises()}
    assert {"RuleRefused", "InvalidInputError", "NotFoundError", "ConflictError",
            "PermissionDeniedError"} <= raised


def _sample(cls: type[DeskError]) -> DeskError:
    """An instance of ``cls`` built from its signature, a rule id offered wherever a
    parameter would take one."""
    args: dict[str, object] = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name == "errors":
            args[name] = [central.refusals.FieldError("f", "错", "wrong")]
        elif "int" in str(param.annotation):
            args[name] = 60
        else:
            args[name] = "H4"
    return cls(**args)  # type: ignore[arg-type]


def test_a_refusal_naming_a_rule_is_always_422_rule() -> None:
    for name, cls in _refusal_classes().items():
        body = _sample(cls).as_dict()
        if body.get("rule") is not None:
            assert (body["error"], cls.http_status) == ("rule", 422), name
        else:
            assert "rule" not in body or cls.kind != "rule", name


def test_a_refusal_that_cites_a_rule_is_that_rules_refusal() -> None:
    rule_ids = set(re.findall(r"^\| ([A-Z]\d) \|", (ROOT.parent / "shared" / "domain-rules.md")
                              .read_text("utf-8"), re.M)) if (
        ROOT.parent / "shared" / "domain-rules.md").exists() else set()
    misfiled = []
    for where, line, name, texts in _raises():
        if name == "RuleRefused":
            if rule_ids and texts:
                assert texts[0] in rule_ids | DESK_RULES, (where, line, texts[0])
        elif name != "InvalidInputError" and any(CITES_RULE.search(t) for t in texts):
            misfiled.append(f"{where}:{line} {name}")
    assert misfiled == [], "a refusal citing a rule must be RuleRefused with its id"


def test_H6_a_tenant_filing_a_renovation_without_consent_is_refused_under_H6(desk: Desk,
                                                               staff: Staffs) -> None:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        file_renovation(desk, staff.clerk, FileRenovation.from_form({
            "household_id": household_of(desk, "赵磊"),
            "applicant_person_id": person(desk, "赵磊").id, "starts_on": "2026-06-09",
            "ends_on": "2026-09-08", "contractor": {"name": "美家装修", "lead_name": "李工",
                                                    "lead_phone": "13800000000"}}))
    # Without the owner's written consent (seed 004): refused under H6, on that field.
    assert (refused.value.rule_id, refused.value.field) == ("H6", "owner_consent")
    assert refused.value.as_dict()["rule"] == "H6"
    assert row_counts(desk) == before
