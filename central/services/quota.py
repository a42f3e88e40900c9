"""Rule I4, the household quota (住户智能卡配额).

If every cardholder is a direct relative (直系亲属) of the applicant, a household may hold any
number of cards. Once any is not — on this application, or among the household's cards
already in use — the household may hold at most 4 cards when the home is under 130 m² and
5 when it is 130 m² or more (both site settings). Counting the cards already in use keeps
the quota from being side-stepped by applying for the non-relative first.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from central.models import DIRECT_RELATIVES, Relationship, SiteSettings
from central.refusals import RuleRefused


def household_quota(settings: SiteSettings, area_m2: Decimal) -> int:
    """The most cards a household with a non-direct cardholder may hold."""
    if area_m2 >= settings.quota_area_threshold_m2:
        return settings.quota_large_home
    return settings.quota_small_home


def check_quota(settings: SiteSettings, area_m2: Decimal,
                in_use: Sequence[Relationship | None],
                requested: Sequence[Relationship]) -> None:
    """Refuse (rule I4) when the household would hold more cards than its quota allows.

    ``in_use`` are the stated relationships of the household's cards still in use (None for
    cards issued without one, given the benefit of the doubt); ``requested`` those of this
    application.
    """
    non_direct = [r for r in (*in_use, *requested)
                  if r is not None and r not in DIRECT_RELATIVES]
    if not non_direct:
        return
    quota = household_quota(settings, area_m2)
    total = len(in_use) + len(requested)
    if total <= quota:
        return
    size = (f"{settings.quota_area_threshold_m2} m² 及以上" if quota == settings.quota_large_home
            else f"不足 {settings.quota_area_threshold_m2} m²")
    size_en = (f"{settings.quota_area_threshold_m2} m² or more"
               if quota == settings.quota_large_home
               else f"under {settings.quota_area_threshold_m2} m²")
    raise RuleRefused(
        "I4",
        f"持卡人中有非直系亲属（{non_direct[0].value}），住房面积 {area_m2} m²（{size}）"
        f"每户最多 {quota} 张；已有 {len(in_use)} 张，本次申请 {len(requested)} 张",
        f"a cardholder is not a direct relative ({non_direct[0].value}), so a home of "
        f"{area_m2} m² ({size_en}) may hold at most {quota} cards; it has {len(in_use)} in "
        f"use and this application asks for {len(requested)}",
        "lines",
    )
