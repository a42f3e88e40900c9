"""What the desk does to a card once issued, each a short form on its own page under
``/cards/{uid}/``: renew, withdraw (revoke), format for re-use (I6), set its access groups,
report it lost (L1: the balance shown first) or damaged (L2), and issue its replacement
(L2, with the fee of I3 shown before). The card's own page (``/cards/{uid}``) links here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.amounts import yuan
from central.api.state import api_state
from central.form_input import FormInput
from central.models import HolderKind
from central.pages.form_view import form_view, unplaced_errors, with_choices
from central.pages.i18n import N_
from central.pages.page_request import PageDep, Refused, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import DeskError, FieldError, NotFoundError
from central.services import card_changes, loss
from central.services.card_changes import CardSummary
from central.services.context import Actor, Desk
from central.uids import desk_uid

router = APIRouter()


@dataclass(frozen=True)
class CardActionPage:
    """One action on a card: its path, the API operation it performs, its input and
    service, how its page reads and where the desk goes once it is done."""

    slug: str
    operation: str
    title: str  # English source text
    button: str
    input: type[FormInput]
    # The service, called with the desk, the caller and the input read from the form;
    # returns the page to go to afterwards.
    perform: Callable[[Desk, Actor, Any, str], str]
    uid_key: str = "uid"
    leave_out: tuple[str, ...] = ()
    danger: bool = False
    # L1: the balance is shown before the form (a loss, a damage, a replacement).
    balance_first: bool = False
    confirm: str | None = None
    explain: str = ""


def _card_then(service: Callable[[Desk, Actor, Any], object], done: str,
               ) -> Callable[[Desk, Actor, Any, str], str]:
    """Perform ``service``, then the card's page with its success note."""
    def run(desk: Desk, actor: Actor, inp: Any, uid: str) -> str:
        service(desk, actor, inp)
        return f"/cards/{uid}?done={done}"
    return run


def _report(service: Callable[[Desk, Actor, loss.ReportLoss], loss.LossResult],
            ) -> Callable[[Desk, Actor, Any, str], str]:
    """Report the card; then the compensation's receipt (L3), else the queue awaiting the
    director's review (L2)."""
    def run(desk: Desk, actor: Actor, inp: Any, uid: str) -> str:
        result = service(desk, actor, inp)
        if result.receipt_number is not None:
            return f"/receipts/{result.receipt_number}?done=reported"
        return f"/loss-reports?done=reported&report={result.report_id}"
    return run


def _replace(desk: Desk, actor: Actor, inp: Any, uid: str) -> str:
    """Issue the replacement; then its receipt (I3), else the new card's page."""
    result = loss.replace_card(desk, actor, inp)
    if result.receipt_number is not None:
        return f"/receipts/{result.receipt_number}?done=replaced"
    return f"/cards/{result.new_uid}?done=replaced"


def _on_the_card(slug: str, operation: str, title: str, button: str,
                 perform: Callable[[Desk, Actor, Any, str], str], **more: Any,
                 ) -> CardActionPage:
    """An action on the card alone (with the register's signature)."""
    return CardActionPage(slug, operation, title, button, card_changes.CardAction, perform,
                          leave_out=("uid",), **more)


ACTIONS = (
    _on_the_card("renew", "renew_card", N_("Renew the card"), N_("Renew"),
                 _card_then(card_changes.renew_card, "renewed"),
                 explain=N_("The card is extended by its holder's validity, from the day "
                            "after it ends (a tenant's never past the lease end).")),
    _on_the_card("revoke", "revoke_card", N_("Withdraw the card"), N_("Withdraw"),
                 _card_then(card_changes.revoke_card, "revoked"), danger=True,
                 confirm=N_("Withdraw this card at every gate?"),
                 explain=N_("Every gate refuses the card from now. It must be formatted "
                            "before it is given to anyone again (I6).")),
    _on_the_card("format", "format_card", N_("Format the card"), N_("Format"),
                 _card_then(card_changes.format_card, "formatted"), danger=True,
                 confirm=N_("Format this card? Every grant it holds is cleared."),
                 explain=N_("Every grant is cleared and the holder removed, so the card "
                            "can be issued again (I6).")),
    CardActionPage("access-groups", "set_card_grants", N_("Set the access groups"),
                   N_("Save the access groups"), card_changes.SetCardGrants,
                   _card_then(card_changes.set_card_grants, "grants"),
                   leave_out=("uid", "access_groups"),
                   explain=N_("Tick the doors and barriers the card shall open.")),
    CardActionPage("report-lost", "report_lost", N_("Report the card lost"),
                   N_("Report lost"), loss.ReportLoss, _report(loss.report_lost),
                   leave_out=("uid", *loss.DAMAGE_ONLY), danger=True, balance_first=True,
                   explain=N_("Show the holder the balance first. On the holder's agreement "
                              "the card is stopped at every gate (L1); the director reviews "
                              "the report before a new card is issued (L2).")),
    CardActionPage("report-damaged", "report_damaged", N_("Report the card damaged"),
                   N_("Report damaged"), loss.ReportLoss, _report(loss.report_damaged),
                   leave_out=("uid",), danger=True, balance_first=True,
                   explain=N_("The damaged card is taken back and withdrawn; the director "
                              "reviews the report before a new card is issued (L2).")),
    CardActionPage("replace", "replace_card", N_("Issue the replacement"),
                   N_("Issue the new card"), loss.ReplaceCard, _replace, uid_key="old_uid",
                   leave_out=("old_uid",), balance_first=True,
                   explain=N_("The new card gets the old card's holder, doors and balance; "
                              "the holder checks the balance and signs (L2).")),
)


def _uid(text: str) -> str:
    try:
        return desk_uid(text)
    except ValueError:
        raise NotFoundError(f"卡号 {text} 无效", f"{text} is not a card number", "uid") from None


@dataclass(frozen=True)
class _CardFacts:
    """What the action's page shows of the card before its form."""

    card: CardSummary
    groups: Sequence[card_changes.GroupChoice] = ()
    replacement: loss.ReplacementPreview | None = None


def _facts(desk: Desk, actor: Actor, spec: CardActionPage, uid: str) -> _CardFacts:
    card = card_changes.card_summary(desk, actor, uid)
    if spec.slug == "access-groups":
        return _CardFacts(card, groups=card_changes.site_access_groups(desk, actor))
    if spec.slug == "replace":
        return _CardFacts(card, replacement=loss.replacement_preview(desk, actor, uid))
    return _CardFacts(card)


def _defaults(spec: CardActionPage, card: CardSummary) -> dict[str, Any]:
    """What the form starts with: the balance the page shows the holder (L1), the holder
    as reporter."""
    if spec.input is loss.ReportLoss:
        return {"balance_shown_yuan": yuan(card.balance_fen)}
    return {}


def _page(ctx: PageContext, spec: CardActionPage, facts: _CardFacts | None, uid: str, *,
          values: Mapping[str, Any], errors: Sequence[FieldError] = (),
          error: DeskError | None = None, status_code: int = 200) -> HTMLResponse:
    fields: tuple[Any, ...] = ()
    if facts is not None:
        holder = ([(str(facts.card.holder_person_id), facts.card.holder_name)]
                  if facts.card.holder_person_id is not None else [])
        leave_out = spec.leave_out
        if spec.input is loss.ReportLoss and facts.card.holder_kind is not HolderKind.STAFF:
            # Only a staff holder pays at the report (L3): no payment to ask about.
            leave_out = (*leave_out, "payment_method")
        fields = with_choices(form_view(spec.input, values, errors, leave_out=leave_out),
                              {"reporter_person_id": holder})
    chosen = values.get("access_groups")
    return render(ctx, "cards/action.html", {
        "spec": spec, "uid": uid, "facts": facts, "fields": fields, "error": error,
        "others": unplaced_errors(fields, errors),
        "group_errors": [e for e in errors if e.field.startswith("access_groups")],
        "chosen_groups": list(chosen) if chosen is not None
        else list(facts.card.access_groups) if facts is not None else [],
    }, status_code=status_code)


def _get_handler(spec: CardActionPage) -> Callable[..., Any]:
    async def show(ctx: PageDep, request: Request, uid: str) -> HTMLResponse:
        canonical = _uid(uid)
        try:
            facts = await run_in_threadpool(_facts, api_state(request).desk, ctx.actor, spec,
                                            canonical)
        except DeskError as exc:
            if exc.http_status == 404:
                raise
            # The card is there but the action cannot start (a replacement with no report).
            return _page(ctx, spec, None, canonical, values={}, error=exc,
                         status_code=exc.http_status)
        return _page(ctx, spec, facts, canonical, values=_defaults(spec, facts.card))
    show.__doc__ = f"The form: {spec.title}."
    return show


def _post_handler(spec: CardActionPage) -> Callable[..., Any]:
    async def act(ctx: PageDep, request: Request, uid: str) -> Response:
        canonical = _uid(uid)
        sent = await submit(request, ctx, spec.input,
                            lambda desk, actor, inp: spec.perform(desk, actor, inp, canonical),
                            given={spec.uid_key: canonical})
        if isinstance(sent, Refused):
            try:
                facts = await run_in_threadpool(_facts, api_state(request).desk, ctx.actor,
                                                spec, canonical)
            except DeskError:
                facts = None
            return _page(ctx, spec, facts, canonical, values=sent.values, errors=sent.errors,
                         error=sent.error, status_code=sent.error.http_status)
        return see_other(sent.result)
    act.__doc__ = f"Perform: {spec.title}."
    return act


for _spec in ACTIONS:
    _allowed = [Depends(requires(_spec.operation))]
    router.add_api_route(f"/cards/{{uid}}/{_spec.slug}", _get_handler(_spec),
                         methods=["GET"], response_class=HTMLResponse, dependencies=_allowed)
    router.add_api_route(f"/cards/{{uid}}/{_spec.slug}", _post_handler(_spec),
                         methods=["POST"], response_class=HTMLResponse, dependencies=_allowed)
