"""The request models of the OpenAPI document and the services' ``from_form`` read the same
fields: every documented field is read, and nothing is read that is not documented (which
the unknown-field check would then refuse)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from central.api import (
    auth,
    cards,
    goods,
    loss,
    money,
    ownership,
    parking,
    renovation,
    reports,
    staff,
    visitors,
)
from central.api import (
    card_changes as card_changes_api,
)
from central.refusals import DeskError
from central.services import (
    card_changes,
    fees,
    other_cards,
    parking_approval,
    parking_report_signoff,
    parking_reserve,
    receipts,
    renovation_deposits,
    resident_cards,
)
from central.services import goods as goods_service
from central.services import loss as loss_service
from central.services import ownership as ownership_service
from central.services import parking as parking_service
from central.services import renovation as renovation_service
from central.services import visitors as visitors_service
from central.services.staff import NewStaff

# (body model, the service input's from_form, fields the path gives)
PAIRS: list[tuple[type[BaseModel], Callable[[Any], Any], set[str]]] = [
    (auth.LoginBody, auth.LoginForm.from_form, set()),
    (staff.NewStaffBody, NewStaff.from_form, set()),
    (cards.IssueResidentCardsBody, resident_cards.IssueResidentCards.from_form, set()),
    (cards.IssueMerchantCardBody, other_cards.IssueMerchantCard.from_form, set()),
    (cards.IssueStaffCardBody, other_cards.IssueStaffCard.from_form, set()),
    (card_changes_api.GrantsBody, card_changes.SetCardGrants.from_form, {"uid"}),
    (card_changes_api.CardActionBody, card_changes.CardAction.from_form, {"uid"}),
    (loss.ReportDamagedBody, loss_service.ReportLoss.from_form, {"uid"}),
    (loss.ReplaceBody, loss_service.ReplaceCard.from_form, {"old_uid"}),
    (loss.ReviewBody, loss_service.ReviewLoss.from_form, {"report_id"}),
    (money.ChargeFeeBody, fees.ChargeFee.from_form, set()),
    (money.PayFeesBody, fees.PayFees.from_form, set()),
    (money.VoidBody, receipts.VoidReceipt.from_form, {"number"}),
    (ownership.TransferBody, ownership_service.TransferOwnership.from_form, set()),
    (parking.ApplyParkingBody, parking_service.ApplyParking.from_form, set()),
    (parking.ApproveParkingBody, parking_approval.ApproveParking.from_form,
     {"subscription_id"}),
    (parking.TopUpBody, parking_service.TopUpParking.from_form, {"uid"}),
    (parking.ReserveVehicleBody, parking_reserve.NameReserveVehicle.from_form, set()),
    (reports.SignReportBody, parking_report_signoff.SignParkingReport.from_form, {"month"}),
    (renovation.FileRenovationBody, renovation_service.FileRenovation.from_form, set()),
    (renovation.WorkerCardsBody, renovation_service.IssueWorkerCards.from_form, {"filing_id"}),
    (renovation.ExtendBody, renovation_service.ExtendRenovation.from_form, {"filing_id"}),
    (renovation.ReturnCardsBody, renovation_deposits.ReturnWorkerCards.from_form,
     {"filing_id"}),
    (renovation.RefundBody, renovation_deposits.RefundDeposit.from_form,
     {"filing_id", "receipt_number"}),
    (visitors.VisitorPassBody, visitors_service.IssueVisitorPass.from_form, set()),
    (visitors.ParkingPermitBody, visitors_service.IssueParkingPermit.from_form, set()),
    (visitors.RegisterVisitorBody, visitors_service.RegisterVisitor.from_form, set()),
    (goods.GoodsSlipBody, goods_service.IssueGoodsSlip.from_form, set()),
    (goods.GoodsExitBody, goods_service.RecordGoodsExit.from_form, {"number"}),
    (goods.FileSlipsBody, goods.FileSlips.from_form, set()),
    (goods.GoodsPassBody, goods_service.IssueGoodsPass.from_form, set()),
]


class Recorder(dict[str, Any]):
    """A form that notes every field read from it, nested ones included."""

    def __init__(self, data: dict[str, Any], path: str, seen: set[str]) -> None:
        super().__init__(data)
        self.path, self.seen = path, seen

    def get(self, key: str, default: Any = None) -> Any:
        where = f"{self.path}.{key}" if self.path else key
        self.seen.add(where)
        return _wrap(super().get(key, default), where, self.seen)


def _wrap(value: Any, path: str, seen: set[str]) -> Any:
    if isinstance(value, dict):
        return Recorder(value, path, seen)
    if isinstance(value, list):
        return [_wrap(v, f"{path}[]", seen) for v in value]
    return value


def _full(schema: dict[str, Any], defs: dict[str, Any], path: str,
          paths: set[str]) -> Any:
    """A body with every documented field present (values need not be valid), and the set
    of their paths."""
    if "$ref" in schema:
        return _full(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, path, paths)
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return _full(option, defs, path, paths)
    if schema.get("type") == "object":
        out = {}
        for key, sub in schema.get("properties", {}).items():
            where = f"{path}.{key}" if path else key
            paths.add(where)
            out[key] = _full(sub, defs, where, paths)
        return out
    if schema.get("type") == "array":
        return [_full(schema.get("items", {}), defs, f"{path}[]", paths)]
    return "x"


@pytest.mark.parametrize(("model", "from_form", "from_path"), PAIRS,
                         ids=[m.__name__ for m, _f, _p in PAIRS])
def test_model_and_form_read_the_same_fields(model: type[BaseModel],
                                             from_form: Callable[[Any], Any],
                                             from_path: set[str]) -> None:
    schema = model.model_json_schema()
    documented: set[str] = set()
    body = _full(schema, schema.get("$defs", {}), "", documented)
    read: set[str] = set()
    with contextlib.suppress(DeskError):  # "x" is rarely valid; what matters is the reads
        from_form(Recorder({**body, **dict.fromkeys(from_path, "1")}, "", read))
    assert read - from_path == documented
