"""The desk's menu: each entry a page and the API operation whose permission shows it (a
role that may not perform the operation does not see the entry; the page itself checks the
permission again on the server)."""

from __future__ import annotations

from dataclasses import dataclass

from central.pages.i18n import N_


@dataclass(frozen=True)
class MenuEntry:
    """One entry of the menu."""

    path: str
    label: str  # English source text, translated where shown
    operation: str  # shown to the roles the permission matrix gives this operation


MENU = (
    MenuEntry("/", N_("Search"), "search"),
    MenuEntry("/cards/issue", N_("Issue cards"), "issue_resident_cards"),
    MenuEntry("/loss-reports", N_("Lost & damaged"), "list_loss_reports"),
    MenuEntry("/receipts", N_("Receipts"), "list_receipts"),
    MenuEntry("/register", N_("Card register"), "list_register"),
    MenuEntry("/parking", N_("Parking"), "get_parking_report"),
    MenuEntry("/visitors", N_("Visitors"), "list_visitors"),
    MenuEntry("/renovations", N_("Renovations"), "file_renovation"),
    MenuEntry("/goods-slips", N_("Goods release"), "list_overdue_goods_slips"),
    MenuEntry("/gates", N_("Gates"), "list_devices"),
    MenuEntry("/booths", N_("Booth records"), "list_events"),
    MenuEntry("/staff", N_("Staff accounts"), "list_staff"),
    MenuEntry("/settings/rules", N_("Site rules"), "add_holiday"),
)
