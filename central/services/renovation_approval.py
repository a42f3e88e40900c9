"""The manager's approval of a renovation filing (rule H6, seed 001: 3.5 服務中心經理負責裝修
申請的審批; 6.1.7 服務中心經理審批合格後,在裝修申請審批表上簽字).

The service centre's manager is the office director (管理处主任) in the desk's roles. Where
the site keeps the step (``renovation_manager_approval``, on by default) a filing waits for
it, and no worker's card is lent before (central/services/renovation.py).
"""

from __future__ import annotations

from datetime import datetime

from central.models import Role
from central.refusals import ConflictError, RuleRefused
from central.services.context import Actor, Desk, action
from central.services.renovation_deposits import get_filing

RENOVATION_APPROVERS = frozenset({Role.DIRECTOR})


def _not_an_approver(role: Role) -> RuleRefused:
    return RuleRefused("H6", f"装修申请由服务中心经理（管理处主任）审批，{role.value} 无权审批",
                       "a renovation is approved by the service centre's manager (the "
                       f"director), not a {role.value}")


def approve_renovation(desk: Desk, actor: Actor, filing_id: int) -> datetime:
    """The director approves a renovation filing and signs the 装修申请审批表; when.
    Refused under H6 for any other role."""
    with action(desk) as act:
        staff, _site = act.authorise(actor, RENOVATION_APPROVERS, refusal=_not_an_approver)
        filing = get_filing(act, filing_id)
        if filing.approved_at is not None:
            raise ConflictError("此装修申请已审批", "this filing is already approved",
                                "filing_id")
        if filing.completed_on is not None or filing.ends_on < act.today:
            raise ConflictError(f"此装修备案已结束（至 {filing.ends_on}）",
                                f"this filing is over (to {filing.ends_on})", "filing_id")
        filing.approved_by_staff_id, filing.approved_at = staff.id, act.now
        return act.now
