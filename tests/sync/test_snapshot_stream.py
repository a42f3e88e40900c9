"""A snapshot streamed as central reads the list: exactly the list at ``upto_seq`` whatever the
desk writes meanwhile, the first chunk after one page, chunks that fit; and the device's
staging, which learns the count of chunks only from the last one."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from edge.auth_store import AuthStore
from edge.card_record import CardRow, wire_bytes
from edge.cards import CardStatus
from edge.ports import SystemClock
from sync.agent.snapshot_staging import SnapshotStaging, open_staging_connection
from sync.hub import auth_payloads
from sync.hub.auth_payloads import CARD_BUDGET_BYTES, escaped_bytes, snapshot_parts
from sync.hub.store import CentralStore
from sync.wire.auth_messages import SnapshotChunk, SnapshotRows

SITE = "site-1"


def card(n: int, status: CardStatus = CardStatus.ACTIVE, holder: str = "owner") -> CardRow:
    return CardRow(uid=f"{n:08X}", status=status, valid_from=None, valid_until=None,
                   access_groups=("b1",), schedule=None, holder_kind=holder, plate=None)


class CountingStore(CentralStore):
    """A real store that counts the pages read and can write between two of them."""

    pages = 0

    def current_page(self, upto_seq: int, after_uid: str,
                     limit: int) -> list[tuple[str, int, str]]:
        self.pages += 1
        return super().current_page(upto_seq, after_uid, limit)


@pytest.mark.parametrize("text", [
    '{"uid":"04A1","status":"active"}', 'a "quoted" \\ back\\slash', "",
    "粤B12345 in a plate", "tab\there", "new\nline", "\x7f", "\u2028", "é"])
def test_escaped_bytes_is_wire_bytes(text: str) -> None:
    assert escaped_bytes(text) == wire_bytes(text)


def test_the_stream_is_exactly_the_list_at_upto_seq_while_the_desk_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_payloads, "_SNAPSHOT_PAGE", 7)
    store = CountingStore(tmp_path / "central.db", SITE)
    store.record_cards(card(i) for i in range(50))
    store.record_card(card(3, CardStatus.LOST))
    upto = store.head_seq()
    expected = {uid: json.loads(text)
                for uid, _s, text in store.current_page(upto, "", 1000)}
    store.pages = 0

    parts = snapshot_parts(store, upto, most=5)
    texts, last = next(parts)
    # The first chunk leaves after one page, not after the whole list was read.
    assert store.pages == 1 and not last and len(texts) == 5
    got = list(texts)
    flags: list[bool] = [last]
    for n, (texts, last) in enumerate(parts):
        # The desk keeps writing: changes to cards already sent and not yet sent, new cards.
        store.record_card(card(n, CardStatus.REVOKED))
        store.record_card(card(45 - n, CardStatus.LOST))
        store.record_card(card(1000 + n))
        got += texts
        flags.append(last)
    assert flags == [False] * (len(flags) - 1) + [True]
    assert [json.loads(t) for t in got] == list(expected.values())
    assert [json.loads(t)["uid"] for t in got] == sorted(expected)
    assert json.loads(got[3])["status"] == "lost"


def test_chunks_are_cut_by_count_and_by_bytes(tmp_path: Path) -> None:
    store = CentralStore(tmp_path / "central.db", SITE)
    # Cards with a long holder kind weigh several hundred bytes on the wire.
    store.record_cards(card(i, holder="x" * 700) for i in range(1000))
    parts = list(snapshot_parts(store, store.head_seq(), most=2000))
    assert sum(len(t) for t, _l in parts) == 1000
    assert len(parts) > 1  # cut by bytes: 2,000 by count would hold them all
    for texts, _last in parts:
        assert sum(wire_bytes(t) for t in texts) <= CARD_BUDGET_BYTES
    assert [len(t) for t, _l in snapshot_parts(store, store.head_seq(), most=300)][:3] \
        == [300, 300, 300]


def test_an_empty_list_is_one_empty_last_chunk(tmp_path: Path) -> None:
    store = CentralStore(tmp_path / "central.db", SITE)
    assert list(snapshot_parts(store, 0, most=10)) == [([], True)]


# ---------------------------------------------------------------- the device's staging


def _staging(tmp_path: Path) -> SnapshotStaging:
    AuthStore(tmp_path / "auth.db").close()
    return SnapshotStaging(open_staging_connection(tmp_path / "auth.db"), SystemClock())


def _chunk(index: int, last: bool, sid: str = "s1", upto: int = 9) -> SnapshotRows:
    return SnapshotRows.of(SnapshotChunk(SITE, sid, upto, index, last, time.time(),
                                         (replace(card(index), auth_seq=upto),)))


def test_a_snapshot_is_whole_once_its_last_chunk_and_every_one_before_are_staged(
        tmp_path: Path) -> None:
    staging = _staging(tmp_path)
    assert staging.add(_chunk(2, True)) is None  # the last, first: the count is known
    (staged,) = staging.staged()
    assert (staged.count, staged.received, staged.whole) == (3, 1, False)
    assert staging.add(_chunk(0, False)) is None
    assert staging.add(_chunk(0, False)) is None  # a duplicate counts once
    done = staging.add(_chunk(1, False))
    assert done is not None and done.whole and done.received == 3


def test_without_its_last_chunk_a_snapshot_is_never_whole(tmp_path: Path) -> None:
    staging = _staging(tmp_path)
    for index in range(4):
        assert staging.add(_chunk(index, False)) is None
    (staged,) = staging.staged()
    assert (staged.count, staged.received, staged.whole) == (None, 4, False)
    assert staging.complete() is None


@pytest.mark.parametrize("first, then", [
    ([(1, True)], (2, False)),  # past the last chunk
    ([(0, False), (3, False)], (2, True)),  # "last", yet a later chunk is staged
    ([(2, True)], (1, True)),  # a second, different last chunk
], ids=["past the last", "last below a staged index", "two lasts"])
def test_a_chunk_that_contradicts_its_snapshot_discards_it(
        tmp_path: Path, first: list[tuple[int, bool]], then: tuple[int, bool]) -> None:
    staging = _staging(tmp_path)
    for index, last in first:
        assert staging.add(_chunk(index, last)) is None
    assert staging.add(_chunk(*then)) is None
    assert staging.staged() == []
