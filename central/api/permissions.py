"""The permission matrix: which roles may call which operation. One table, used by the
dependency every route carries (central/api/security.py), rendered into docs/api.md by
``markdown_table()`` (a test fails when the two drift), and walked role by role by the
permission test.

The services check roles too (``Action.authorise``, rule H4's lead check, rule L2's
director check); this table must never be wider than what they allow — the permission test
sends each allowed role through to the service to prove it. Where a rule names who may do
something the entry carries the rule's id, and the 403 says it.
"""

from __future__ import annotations

from dataclasses import dataclass

from central.models import Role

# Day-to-day desk work: issuing, loss, fees (central/services/context.py DESK_ROLES).
DESK = frozenset({Role.CLERK, Role.FRONT_DESK_LEAD, Role.CUSTOMER_SERVICE_LEAD,
                  Role.DIRECTOR})
LEADS = frozenset({Role.FRONT_DESK_LEAD, Role.CUSTOMER_SERVICE_LEAD})
EVERYONE = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
# Gate events say who went where and when: the guards who watch the gates, and the leads
# and the director who answer for them; not every clerk.
GATE_WATCH = frozenset({Role.GUARD}) | LEADS | {Role.DIRECTOR}
# The desk and the guards at the gates: visitors' passes, permits and register (H7, G5),
# the reserve-space check (P5), goods slips overdue (G4) — the services allow both.
DESK_AND_GUARDS = DESK | {Role.GUARD}
DIRECTOR = frozenset({Role.DIRECTOR})
GUARDS = frozenset({Role.GUARD})
# Security (安管部) adds the car park's use to the monthly report: the guards' accounts,
# or the director on their behalf (central/services/parking_report_signoff.py).
SECURITY = GUARDS | DIRECTOR
# The site's rules every gate applies (issue 12): the administrator who set the site up, or
# the office director who answers for the car park (central/services/site_rules.py).
RULE_EDITORS = ADMIN | DIRECTOR


@dataclass(frozen=True)
class Permission:
    """Who may call one operation."""

    method: str
    path: str
    roles: frozenset[Role]
    summary: str
    rule: str | None = None  # the domain rule naming the roles, when one does


P = Permission
PERMISSIONS: dict[str, Permission] = {
    # session
    "logout": P("POST", "/api/v1/logout", EVERYONE, "end this session"),
    "whoami": P("GET", "/api/v1/me", EVERYONE, "who is logged in, and what they may do"),
    "change_own_password": P("POST", "/api/v1/me/password", EVERYONE,
                             "change one's own password (other sessions end)"),
    # accounts
    "list_staff": P("GET", "/api/v1/staff", ADMIN, "list staff accounts"),
    "create_staff": P("POST", "/api/v1/staff", ADMIN, "create a staff account"),
    "change_staff_role": P("PUT", "/api/v1/staff/{staff_id}/role", ADMIN,
                           "change an account's role"),
    "reset_staff_password": P("POST", "/api/v1/staff/{staff_id}/password", ADMIN,
                              "set an account's password and end its sessions"),
    "deactivate_staff": P("POST", "/api/v1/staff/{staff_id}/deactivate", ADMIN,
                          "disable an account and end its sessions"),
    "give_staff_site_role": P("PUT", "/api/v1/staff/{staff_id}/site-roles/{site_code}", ADMIN,
                              "give an account a role at another site (company-wide admins)"),
    "take_staff_site_role": P("DELETE", "/api/v1/staff/{staff_id}/site-roles/{site_code}", ADMIN,
                              "take back an account's role at another site"),
    # the site, its households and people
    "get_site": P("GET", "/api/v1/site", EVERYONE,
                  "the site: access groups, gates, buildings, units"),
    "list_households": P("GET", "/api/v1/households", DESK, "find households"),
    "get_household": P("GET", "/api/v1/households/{household_id}", DESK,
                       "a household: members, cards, unpaid fees"),
    "list_people": P("GET", "/api/v1/people", DESK, "find people"),
    "get_person": P("GET", "/api/v1/people/{person_id}", DESK, "a person and their cards"),
    "search": P("GET", "/api/v1/search", DESK,
                "find households, people, cards and vehicles from one text"),
    # cards
    "issue_resident_cards": P("POST", "/api/v1/cards/resident", DESK,
                              "issue a household's resident cards (H1 H2 I1 I2 I4 I5 I6)"),
    "issue_merchant_card": P("POST", "/api/v1/cards/merchant", DESK,
                             "issue a merchant card (H3)"),
    "issue_staff_card": P("POST", "/api/v1/cards/staff", LEADS,
                          "issue an internal staff card", "H4"),
    "get_card": P("GET", "/api/v1/cards/{uid}", DESK | {Role.GUARD},
                  "card summary with its balance (L1)"),
    "set_card_grants": P("PUT", "/api/v1/cards/{uid}/grants", DESK,
                         "set a card's access groups (staff cards: leads only, H4)"),
    "renew_card": P("POST", "/api/v1/cards/{uid}/renew", DESK,
                    "renew a card (staff cards: leads only, H4)"),
    "revoke_card": P("POST", "/api/v1/cards/{uid}/revoke", DESK, "withdraw a card"),
    "format_card": P("POST", "/api/v1/cards/{uid}/format", DESK, "format a card (I6)"),
    "report_lost": P("POST", "/api/v1/cards/{uid}/report-lost", DESK,
                     "report a card lost (L1, L3)"),
    "report_damaged": P("POST", "/api/v1/cards/{uid}/report-damaged", DESK,
                        "report a card damaged (L2, L3)"),
    "replace_card": P("POST", "/api/v1/cards/{uid}/replace", DESK,
                      "issue the replacement of a reported card (L2, I3; staff cards: leads "
                      "only, H4)"),
    "list_loss_reports": P("GET", "/api/v1/loss-reports", DESK,
                           "loss and damage reports, e.g. those awaiting review"),
    "review_loss": P("POST", "/api/v1/loss-reports/{report_id}/review", DIRECTOR,
                     "review a loss or damage report", "L2"),
    # households' money
    "list_fees": P("GET", "/api/v1/fees", DESK, "a household's fees"),
    "charge_fee": P("POST", "/api/v1/fees", DESK, "record a fee a household owes"),
    "pay_fees": P("POST", "/api/v1/fees/payments", DESK,
                  "take payment of fees, with a receipt (I7)"),
    "list_receipts": P("GET", "/api/v1/receipts", DESK, "list receipts"),
    "get_receipt": P("GET", "/api/v1/receipts/{number}", DESK, "one receipt with its lines"),
    "void_receipt": P("POST", "/api/v1/receipts/{number}/void", LEADS | {Role.DIRECTOR},
                      "void a receipt, optionally writing the corrected one (I7)"),
    "top_up_card": P("POST", "/api/v1/cards/{uid}/top-ups", DESK,
                     "put money on a card, with a receipt (I7)"),
    "spend_from_card": P("POST", "/api/v1/cards/{uid}/spends", DESK_AND_GUARDS,
                         "take money off a card for a service, never beyond its balance (V1)"),
    "list_balance_entries": P("GET", "/api/v1/cards/{uid}/balance-entries", DESK_AND_GUARDS,
                              "a card's stored-value ledger"),
    "transfer_ownership": P("POST", "/api/v1/ownership-transfers", DESK,
                            "register a unit's new owner (H8)"),
    "list_register": P("GET", "/api/v1/register", DESK,
                       "the IC card issue / anomaly register (I1), read-only"),
    # the gates
    "list_events": P("GET", "/api/v1/events", GATE_WATCH,
                     "gate events, by card, gate, time and outcome"),
    "list_devices": P("GET", "/api/v1/devices", GATE_WATCH | ADMIN,
                      "the gate controllers: online/offline/unknown, behind, backlog, open "
                      "alarms; the desk's own link"),
    "list_sites_gates": P("GET", "/api/v1/sites/gates", GATE_WATCH | ADMIN,
                          "every site's gates at a glance (the sites whose gates the caller "
                          "watches): online, offline, behind, backlog"),
    "list_lots": P("GET", "/api/v1/lots", GATE_WATCH | ADMIN,
                   "the car parks: spaces, occupied and free per class, each lane's last "
                   "report, the newest guard correction"),
    "get_card_sync": P("GET", "/api/v1/cards/{uid}/sync", DESK | {Role.GUARD},
                       "which gates applied a card's newest change, and when"),
    "get_change_sync": P("GET", "/api/v1/card-changes/{change_id}/sync", DESK | {Role.GUARD},
                         "which gates applied one card change, and when"),
    # remote commands: who may, and why, in central/services/gate_commands.py
    "open_gate_once": P("POST", "/api/v1/devices/{device}/open-once", GATE_WATCH,
                        "open a gate once, with a reason (G3)"),
    "hold_gate_open": P("POST", "/api/v1/devices/{device}/hold-open", GATE_WATCH,
                        "hold a gate open, optionally until a time, with a reason"),
    "lock_gate_down": P("POST", "/api/v1/devices/{device}/lockdown", GATE_WATCH,
                        "lock a gate down, optionally until a time, with a reason"),
    "release_gate": P("POST", "/api/v1/devices/{device}/release", GATE_WATCH,
                      "end a hold-open or lockdown, with a reason"),
    "list_gate_commands": P("GET", "/api/v1/gate-commands", GATE_WATCH,
                            "remote commands sent: who asked, why, when"),
    # monthly parking (P1 P2 P3 P5)
    "apply_parking": P("POST", "/api/v1/parking/subscriptions", DESK,
                       "apply for a monthly parking card (P1; staff holders: leads only, H4)"),
    "approve_parking": P("POST", "/api/v1/parking/subscriptions/{subscription_id}/approve",
                         DIRECTOR, "approve a monthly parking card, setting its fee and "
                         "space", "P3"),
    "record_owner_unit_approval": P(
        "POST", "/api/v1/parking/subscriptions/{subscription_id}/owner-unit-approval", DESK,
        "record the owner unit's approval of a monthly parking card (业主单位, seed 000)", "P3"),
    "top_up_parking": P("POST", "/api/v1/cards/{uid}/parking/top-ups", DESK,
                        "take months of parking fees (P2, I7; staff cards: leads only, H4)"),
    "end_parking": P("POST", "/api/v1/cards/{uid}/parking/end", DESK,
                     "end a card's parking subscription"),
    "name_reserve_vehicle": P("POST", "/api/v1/parking/reserve-vehicles", DESK,
                              "record a vehicle named for the reserve spaces (P5)"),
    "check_reserve_admission": P("GET", "/api/v1/parking/reserve-admission", DESK_AND_GUARDS,
                                 "check a vehicle against the reserve spaces (P5)"),
    # the monthly parking report (P4)
    "get_parking_report": P("GET", "/api/v1/parking/reports/{month}", DESK_AND_GUARDS,
                            "read the monthly parking report (JSON, CSV, XLSX)"),
    "total_parking_fees": P("POST", "/api/v1/parking/reports/{month}/fees", DESK,
                            "total a month's parking fees (P4)"),
    "add_parking_usage": P("POST", "/api/v1/parking/reports/{month}/usage", SECURITY,
                           "add the car park's use to the monthly report", "P4"),
    "sign_parking_report": P("POST", "/api/v1/parking/reports/{month}/sign", DIRECTOR,
                             "sign the monthly parking report", "P4"),
    # the site's rules the gates apply offline (issue 12): the admin or the director
    "get_site_rules": P("GET", "/api/v1/site-rules", EVERYONE,
                        "the site's rules: expired-monthly-card policy, car parks, holidays, "
                        "timed modes"),
    "set_parking_policy": P("PUT", "/api/v1/site-rules/parking/{space_kind}", RULE_EDITORS,
                            "set the policy for a space kind's expired monthly cards (P2)"),
    "add_holiday": P("POST", "/api/v1/site-rules/holidays", RULE_EDITORS,
                     "put a date on the holiday calendar"),
    "remove_holiday": P("DELETE", "/api/v1/site-rules/holidays/{day}", RULE_EDITORS,
                        "take a date off the holiday calendar"),
    "set_lot_spaces": P("PUT", "/api/v1/site-rules/lots/{lot}", RULE_EDITORS,
                        "set a car park's spaces per class"),
    "add_timed_mode": P("POST", "/api/v1/site-rules/timed-modes", RULE_EDITORS,
                        "give a gate a timed mode (held open, monthly cards only)"),
    "remove_timed_mode": P("DELETE", "/api/v1/site-rules/timed-modes/{mode_id}", RULE_EDITORS,
                           "take a gate's timed mode away"),
    # renovation (H6 G6)
    "file_renovation": P("POST", "/api/v1/renovations", DESK,
                         "file a renovation and take its deposits (H6, G6)"),
    "approve_renovation": P("POST", "/api/v1/renovations/{filing_id}/approve", DIRECTOR,
                            "approve a renovation filing (服务中心经理, seed 001)", "H6"),
    "issue_worker_cards": P("POST", "/api/v1/renovations/{filing_id}/worker-cards", DESK,
                            "lend workers temporary cards (H6)"),
    "extend_renovation": P("POST", "/api/v1/renovations/{filing_id}/extend", DESK,
                           "extend a renovation filing (H6)"),
    "get_renovation": P("GET", "/api/v1/renovations/{filing_id}", DESK_AND_GUARDS,
                        "a renovation filing, its workers and deposits"),
    "return_worker_cards": P("POST", "/api/v1/renovations/{filing_id}/returned-cards", DESK,
                             "take workers' cards back (G6, I6)"),
    "refund_renovation_deposit": P(
        "POST", "/api/v1/renovations/{filing_id}/deposits/{receipt_number}/refund", DESK,
        "refund a renovation deposit (G6)"),
    # visitors (H7 G5)
    "issue_visitor_pass": P("POST", "/api/v1/visitor-passes", DESK_AND_GUARDS,
                            "issue a visitor's temporary pass (H7)"),
    "issue_parking_permit": P("POST", "/api/v1/parking-permits", DESK_AND_GUARDS,
                              "issue a temporary parking permit (H7)"),
    "return_parking_permit": P("POST", "/api/v1/parking-permits/{permit_id}/return",
                               DESK_AND_GUARDS, "record a parking permit handed back"),
    "register_visitor": P("POST", "/api/v1/visitors", DESK_AND_GUARDS,
                          "register a visitor (G5)"),
    "record_visitor_exit": P("POST", "/api/v1/visitors/{registration_id}/exit",
                             DESK_AND_GUARDS, "record a visitor leaving"),
    "list_visitors": P("GET", "/api/v1/visitors", DESK_AND_GUARDS,
                       "the day's visitor register (G5, ID numbers masked)"),
    # goods release (G4)
    "issue_goods_slip": P("POST", "/api/v1/goods-slips", DESK,
                          "issue a goods release slip (G4)"),
    "approve_goods_slip": P("POST", "/api/v1/goods-slips/{number}/approve",
                            frozenset({Role.CUSTOMER_SERVICE_LEAD}),
                            "approve a goods release slip (管家部负责人, seed 003)", "G4"),
    "record_goods_exit": P("POST", "/api/v1/goods-slips/{number}/exit", GUARDS,
                           "record goods leaving on a release slip", "G4"),
    "file_goods_slips": P("POST", "/api/v1/goods-slips/filed", DESK,
                          "file used release slips (G4)"),
    "list_overdue_goods_slips": P("GET", "/api/v1/goods-slips/overdue", DESK_AND_GUARDS,
                                  "used release slips not filed in time (G4)"),
    "issue_goods_pass": P("POST", "/api/v1/goods-passes", DESK,
                          "issue a long-term goods pass (G4)"),
    # ID numbers shown at the desk that failed the check (G5: never a way to read one)
    "list_id_check_failures": P("GET", "/api/v1/id-check-failures", DIRECTOR,
                                "failed ID-number checks: the director's alarm"),
}

# Operations anyone may call without a session.
PUBLIC = frozenset({"login"})

ROLE_TITLES = {Role.CLERK: "clerk", Role.FRONT_DESK_LEAD: "front-desk lead",
               Role.CUSTOMER_SERVICE_LEAD: "customer-service lead",
               Role.DIRECTOR: "director", Role.GUARD: "guard", Role.ADMIN: "admin"}
ROLE_TITLES_ZH = {Role.CLERK: "客服人员", Role.FRONT_DESK_LEAD: "前台负责人",
                  Role.CUSTOMER_SERVICE_LEAD: "客服负责人", Role.DIRECTOR: "管理处主任",
                  Role.GUARD: "安管员", Role.ADMIN: "系统管理员"}


def allowed_operations(role: Role) -> list[str]:
    """The operations ``role`` may call, in table order."""
    return [op for op, p in PERMISSIONS.items() if role in p.roles]


def markdown_table() -> str:
    """The matrix as the Markdown table docs/api.md shows (✓ allowed, · refused)."""
    roles = list(Role)
    head = ("| operation | endpoint | " + " | ".join(ROLE_TITLES[r] for r in roles)
            + " | rule |")
    rule = "|---|---|" + "---|" * len(roles) + "---|"
    lines = [head, rule]
    for op, p in PERMISSIONS.items():
        marks = " | ".join("✓" if r in p.roles else "·" for r in roles)
        lines.append(f"| `{op}` | `{p.method} {p.path}` | {marks} | {p.rule or ''} |")
    return "\n".join(lines) + "\n"
