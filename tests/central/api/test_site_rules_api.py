"""The site's rules over the API (issue 12): read by every role, changed by the admin or the
director, each change a newer version; bad input refused field by field in both languages."""

from __future__ import annotations

from typing import Any

from .conftest import API, TestClient, errors_by_field


def rules(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"{API}/site-rules", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_director_sets_the_rules_and_every_role_reads_them(
        client: TestClient, as_role: dict[str, dict[str, str]]) -> None:
    director, guard = as_role["director"], as_role["guard"]
    first = rules(client, guard)
    assert first["lots"] == [{"id": "main", "name": "地面停车场",
                              "gates": ["carpark-in", "carpark-out"], "fixed": 20,
                              "monthly": 60, "temporary": 30}]
    assert [p["stated"] for p in first["parking"]] == [False, False, False]
    policy = client.put(f"{API}/site-rules/parking/floating", headers=director,
                        json={"expired": "temporary", "grace_days": 3, "remind_days": 5})
    assert policy.status_code == 200, policy.text
    lot = client.put(f"{API}/site-rules/lots/main", headers=director,
                     json={"fixed": 20, "monthly": 60, "temporary": 0})
    assert lot.json()["temporary"] == 0
    holiday = client.post(f"{API}/site-rules/holidays", headers=director,
                          json={"day": "2026-10-01", "kind": "holiday", "note": "国庆节"})
    assert holiday.status_code == 201, holiday.text
    mode = client.post(f"{API}/site-rules/timed-modes", headers=as_role["admin"],
                       json={"gate": "b1-lobby", "schedule": "Mon-Fri 07:00-09:00",
                             "mode": "hold_open"})
    assert mode.status_code == 201, mode.text
    now = rules(client, guard)
    assert now["version"] > first["version"]
    assert now["parking"][1] == {"space_kind": "floating", "expired": "temporary",
                                 "grace_days": 3, "remind_days": 5, "stated": True}
    assert now["holidays"] == [{"day": "2026-10-01", "kind": "holiday", "note": "国庆节"}]
    assert [(m["gate"], m["mode"]) for m in now["timed_modes"]] == [("b1-lobby", "hold_open")]
    gone = client.delete(f"{API}/site-rules/timed-modes/{mode.json()['id']}", headers=director)
    assert gone.status_code == 204
    assert client.delete(f"{API}/site-rules/holidays/2026-10-01",
                         headers=director).status_code == 204
    last = rules(client, guard)
    assert last["timed_modes"] == [] and last["holidays"] == []
    assert last["version"] > now["version"]


def test_bad_rules_are_refused_field_by_field(client: TestClient,
                                              as_role: dict[str, dict[str, str]]) -> None:
    director = as_role["director"]
    before = rules(client, director)
    bad = client.put(f"{API}/site-rules/parking/visitor", headers=director,
                     json={"expired": "sometimes", "grace_days": 400})
    assert bad.status_code == 422
    assert set(errors_by_field(bad.json())) == {"space_kind", "expired", "grace_days"}
    bad = client.post(f"{API}/site-rules/timed-modes", headers=director,
                      json={"gate": "b1-lobby", "schedule": "7-9 weekdays", "mode": "open"})
    errors = bad.json()["errors"]
    assert {e["field"] for e in errors} == {"schedule", "mode"}
    assert all(e["message_zh"] and e["message_en"] for e in errors)
    bad = client.delete(f"{API}/site-rules/holidays/10-01", headers=director)
    assert bad.status_code == 422 and set(errors_by_field(bad.json())) == {"day"}
    assert rules(client, director) == before
