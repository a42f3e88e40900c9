"""A simulated licence-plate camera: pushes a recognition to a lane over HTTP exactly as the
camera does (the ``AlarmInfoPlate`` JSON that edge.readers.plate_camera takes)."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

SIM_SERIALNO = "sim-camera-0001"


def push_body(plate: str, confidence: int, *, serialno: str = SIM_SERIALNO,
              ipaddr: str = "127.0.0.1", when: float | None = None) -> bytes:
    """The JSON a Vzenith-style camera pushes for one read of ``plate``."""
    sec = int(time.time() if when is None else when)
    return json.dumps({"AlarmInfoPlate": {
        "channel": 0, "deviceName": "IVS", "ipaddr": ipaddr, "serialno": serialno,
        "result": {"PlateResult": {
            "license": plate, "confidence": confidence, "colorType": 1, "type": 1,
            "direction": 0, "triggerType": 8, "timeUsed": 40,
            "location": {"RECT": {"left": 820, "top": 610, "right": 1010, "bottom": 660}},
            "timeStamp": {"Timeval": {"sec": sec, "usec": 0}},
        }},
    }}, ensure_ascii=False).encode("utf-8")


def post(url: str, body: bytes, *, source_address: str | None = None,
         content_type: str = "application/json; charset=utf-8",
         timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to ``url`` (from ``source_address`` when given); the status and the
    JSON answer ({} when the answer is not JSON)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout,
        source_address=None if source_address is None else (source_address, 0))
    try:
        conn.request("POST", parts.path or "/", body=body,
                     headers={"Content-Type": content_type})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        answer = json.loads(data.decode("utf-8"))
    except ValueError:
        answer = {}
    return response.status, answer if isinstance(answer, dict) else {}


def push_plate(url: str, plate: str, confidence: int = 95, *, serialno: str = SIM_SERIALNO,
               source_address: str | None = None,
               timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    """Push one read of ``plate`` to the lane listening at ``url``, as its camera would."""
    body = push_body(plate, confidence, serialno=serialno,
                     ipaddr=source_address or "127.0.0.1")
    return post(url, body, source_address=source_address, timeout=timeout)


__all__ = ["SIM_SERIALNO", "post", "push_body", "push_plate"]
