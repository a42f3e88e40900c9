"""Booth records as a booth journals them (docs/booth.md "Booth records"), for the desk's
tests: events of one booth device, numbered from 1, ready for CentralStore.store_events."""

from __future__ import annotations

from typing import Any

BOOTH = "east-booth"  # the example site's booth (central/examples/site.toml)
JOURNAL = "booth-journal-1"
VISITOR_ID = "110101199003071234"


def event(seq: int, kind: str, data: dict[str, Any], wall: float, *,
          alarm: bool = False) -> dict[str, Any]:
    """One journal event of the booth."""
    return {"seq": seq, "boot_id": "boot-1", "wall": wall, "mono": float(seq), "kind": kind,
            "alarm": alarm, "clock_trusted": True, "data": data}


def a_shift(start: float, slip_number: int, *, guard: str = "guard",
            to_guard: str = "director") -> list[dict[str, Any]]:
    """A guard's shift at the booth: a temporary car in and out, a visitor in and out, a
    goods slip let out, a manual open, an alarm acknowledged, the handover with the float
    over the limit, and the float paid in. Seqs 1..12."""
    m = 60.0
    kinds: list[tuple[str, dict[str, Any], bool]] = [
        ("shift_start", {"shift_id": "s1", "guard": guard, "opening_float_fen": 20_000,
                         "at": start}, False),
        ("parking_entry", {"ticket_id": "t1", "plate": "沪A12345", "temp_card": None,
                           "entered_at": start + 5 * m, "gate": "carpark-in", "guard": guard,
                           "forced_reason": None}, False),
        ("visitor_in", {"visit_id": "v1", "name": "赵访客", "id_number": VISITOR_ID,
                        "plate": None, "host_unit": "1-101", "items": "工具箱",
                        "time_in": start + 10 * m, "host_confirmed_by": "王建国",
                        "host_confirm_method": "phone", "visitor_pass_id": None,
                        "guard": guard}, False),
        ("gate_control", {"gate": "main-gate", "action": "open", "guard": guard,
                          "reason": "快递车辆", "until": None, "uid": None, "gate_seq": 77,
                          "result": "opened"}, False),
        ("goods_slip_out", {"number": slip_number, "gate": "main-gate",
                            "left_at": start + 30 * m, "items_match": True,
                            "carrier_matches": True, "guard": guard}, False),
        ("alarm_ack", {"gate": "main-gate", "gate_seq": 80, "guard": guard,
                       "comment": "风吹开门，已关好"}, False),
        ("visitor_out", {"visit_id": "v1", "time_out": start + 70 * m, "guard": guard}, False),
        ("parking_charge", {"charge_id": "c1", "ticket_id": "t1", "plate": "沪A12345",
                            "entered_at": start + 5 * m, "exited_at": start + 185 * m,
                            "fee_fen": 1_500, "paid_fen": 1_500, "waived_reason": None,
                            "lost_ticket": False, "receipt_no": "B-0001", "shift_id": "s1",
                            "guard": guard}, False),
        ("shift_handover", {"shift_id": "s1", "guard": guard, "to_guard": to_guard,
                            "next_shift_id": "s2", "opening_float_fen": 20_000,
                            "cash_fen": 41_500, "charges": 3, "float_fen": 61_500,
                            "invoices": 3, "notes": "2号岗道闸有异响", "at": start + 480 * m},
         False),
        ("float_over_limit", {"shift_id": "s1", "guard": guard, "float_fen": 61_500,
                              "limit_fen": 60_000}, True),
        ("shift_start", {"shift_id": "s2", "guard": to_guard, "opening_float_fen": 61_500,
                         "at": start + 481 * m}, False),
        ("float_paid_in", {"shift_id": "s1", "guard": guard, "amount_fen": 41_500,
                           "at": start + 500 * m}, False),
    ]
    return [event(i, kind, data, start + i, alarm=alarm)
            for i, (kind, data, alarm) in enumerate(kinds, start=1)]
