"""The plate camera adapter on real HTTP over loopback: the simulated camera pushes from the
camera's address (127.0.0.2) or from another (127.0.0.1)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edge.ports import PlateRead
from edge.readers.plate_camera import (
    ANSWER,
    MAX_BODY_BYTES,
    BadPushError,
    HttpPushCamera,
    parse_push,
)
from firmware_config.lane_tables import CameraConfig, CameraKind
from hardware_sim.plate_camera_sim import SIM_SERIALNO, post, push_body, push_plate
from tests.edge.reader_recorder import Recorder

CAMERA = "127.0.0.2"
OTHER = "127.0.0.1"


def _can_bind(address: str) -> bool:
    with socket.socket() as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


pytestmark = pytest.mark.skipif(not _can_bind(CAMERA), reason="no 127.0.0.2 on loopback")


class Plates:
    """on_plate, recorded."""

    def __init__(self) -> None:
        self.reads: list[PlateRead] = []
        self._lock = threading.Lock()

    def __call__(self, read: PlateRead) -> None:
        with self._lock:
            self.reads.append(read)


@pytest.fixture
def events() -> Recorder:
    return Recorder(timeout=5.0)


@pytest.fixture
def plates() -> Plates:
    return Plates()


@pytest.fixture
def start_camera(events: Recorder, plates: Plates) -> Iterator[Callable[..., HttpPushCamera]]:
    started: list[HttpPushCamera] = []

    def start(port: int = 0, report_interval: float = 60.0, camera_address: str = CAMERA,
              on_plate: Callable[[PlateRead], None] | None = None,
              max_handlers: int = 8) -> HttpPushCamera:
        config = CameraConfig(CameraKind.HTTP_PUSH, "127.0.0.1", port, camera_address,
                              "/plate")
        camera = HttpPushCamera(config, report_interval=report_interval, retry_initial=0.05,
                                retry_max=0.2, max_handlers=max_handlers)
        camera.start(on_plate or plates, events)
        started.append(camera)
        assert events.wait_for(lambda: "camera_available" in events.kinds())
        return camera

    yield start
    for camera in started:
        camera.stop()


def _url(camera: HttpPushCamera, path: str = "/plate") -> str:
    return f"http://127.0.0.1:{camera.bound_port}{path}"


# -- parsing ------------------------------------------------------------------------------


def test_parse_the_camera_push() -> None:
    read = parse_push(push_body("粤b·12345", 96, serialno="e6c5fd8b-2c0a3c31"))
    assert read == PlateRead("粤B12345", 96, "e6c5fd8b-2c0a3c31")
    gbk = push_body("京A12345", 90).decode("utf-8").encode("gbk")
    assert parse_push(gbk, "gbk") == PlateRead("京A12345", 90, SIM_SERIALNO)
    no_serial = json.dumps({"AlarmInfoPlate": {"ipaddr": "192.168.50.20", "result": {
        "PlateResult": {"license": "粤BD12345", "confidence": 88.6}}}}).encode()
    assert parse_push(no_serial) == PlateRead("粤BD12345", 89, "192.168.50.20")
    assert parse_push(push_body("_无_", 0)) is None


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"AlarmInfoPlate": {}}', b"\xff\xfe",
    b'{"AlarmInfoPlate": {"result": {"PlateResult": {"confidence": 90}}}}',
    push_body("粤B!2345", 90), push_body("粤", 90),
    push_body("粤B12345", 101), push_body("粤B12345", -1),
    b'{"AlarmInfoPlate": {"result": {"PlateResult": {"license": "A12345", '
    b'"confidence": NaN}}}}',
    b'{"AlarmInfoPlate": {"result": {"PlateResult": {"license": "A12345", '
    b'"confidence": true}}}}',
    b'{"AlarmInfoPlate": {"result": {"PlateResult": {"license": "A12345", '
    b'"confidence": "95"}}}}',
    b"[" * 50000,
])
def test_parse_refuses(body: bytes) -> None:
    with pytest.raises(BadPushError) as caught:
        parse_push(body)
    assert caught.value.status == 400
    assert caught.value.message_zh and caught.value.message_en


# -- the server ---------------------------------------------------------------------------


def test_push_from_the_camera_is_read_and_answered(
        start_camera: Callable[..., HttpPushCamera], plates: Plates, events: Recorder) -> None:
    camera = start_camera()
    status, answer = push_plate(_url(camera), "粤B12345", 95, source_address=CAMERA)
    assert (status, answer) == (200, ANSWER)
    assert answer["Response_AlarmInfoPlate"]["info"] == "no"  # the camera never opens
    assert plates.reads == [PlateRead("粤B12345", 95, SIM_SERIALNO)]
    for confidence in (0, 100):
        assert push_plate(_url(camera), "粤B12345", confidence, source_address=CAMERA)[0] \
            == 200
    assert [r.confidence for r in plates.reads] == [95, 0, 100]
    assert camera.counts()["accepted"] == 3
    assert "camera_bad_push" not in events.kinds()


def test_no_plate_is_answered_but_not_passed_on(
        start_camera: Callable[..., HttpPushCamera], plates: Plates) -> None:
    camera = start_camera()
    assert push_plate(_url(camera), "_无_", 0, source_address=CAMERA) == (200, ANSWER)
    assert plates.reads == []
    assert camera.counts()["no_plate"] == 1


def test_push_from_another_address_is_refused_with_one_alarm_a_minute(
        start_camera: Callable[..., HttpPushCamera], plates: Plates, events: Recorder) -> None:
    camera = start_camera()
    for _ in range(5):
        status, answer = push_plate(_url(camera), "粤B12345", 99, source_address=OTHER)
        assert status == 403
        assert answer["error"]["message_zh"] and answer["error"]["message_en"]
    assert plates.reads == []
    assert events.wait_for(lambda: "camera_intruder" in events.kinds())
    time.sleep(0.3)
    intruder = [(data, alarm) for kind, data, alarm in events.events
                if kind == "camera_intruder"]
    assert len(intruder) == 1  # the first at once; the four after it wait for the minute
    assert intruder[0] == ({"camera": camera.name, "address": OTHER, "count": 1,
                            "seconds": 0.0}, True)
    assert camera.counts()["intruders"] == 5
    # The camera itself is still served.
    assert push_plate(_url(camera), "粤B12345", 99, source_address=CAMERA)[0] == 200
    camera.stop()
    # What was still counted is reported at stop.
    last = events.of_kind("camera_intruder")[-1]
    assert last["count"] == 4


def test_intruders_are_coalesced_per_interval(
        start_camera: Callable[..., HttpPushCamera], events: Recorder) -> None:
    camera = start_camera(report_interval=0.3)
    for _ in range(3):
        assert push_plate(_url(camera), "粤B12345", 99, source_address=OTHER)[0] == 403
    # The server loop reports the interval's count when it ends, with no push needed.
    assert events.wait_for(lambda: events.kinds().count("camera_intruder") == 2)
    assert [e["count"] for e in events.of_kind("camera_intruder")] == [1, 2]


def test_bad_pushes_get_4xx_and_coalesced_reports(
        start_camera: Callable[..., HttpPushCamera], plates: Plates, events: Recorder) -> None:
    camera = start_camera()
    url = _url(camera)
    status, answer = post(url, b"{not json", source_address=CAMERA)
    assert status == 400 and "JSON" in answer["error"]["message_en"]
    assert post(url, push_body("粤B12345", 101), source_address=CAMERA)[0] == 400
    assert post(url, push_body("粤B12345", -5), source_address=CAMERA)[0] == 400
    assert post(url, push_body("B", 90), source_address=CAMERA)[0] == 400
    assert post(_url(camera, "/other"), push_body("粤B12345", 90),
                source_address=CAMERA)[0] == 404
    assert post(url, push_body("粤B12345", 90), source_address=CAMERA,
                content_type="application/json; charset=latin-9")[0] == 415
    assert plates.reads == []
    assert camera.counts()["bad"] == 6
    assert events.wait_for(lambda: "camera_bad_push" in events.kinds())
    [first] = events.of_kind("camera_bad_push")
    assert first["count"] == 1 and "POST /plate" in str(first["sample"])
    assert "not JSON" in str(first["error"])
    camera.stop()
    assert events.of_kind("camera_bad_push")[-1]["count"] == 5


def test_get_is_refused(start_camera: Callable[..., HttpPushCamera]) -> None:
    camera = start_camera()
    with socket.create_connection(("127.0.0.1", camera.bound_port or 0), timeout=3,
                                  source_address=(CAMERA, 0)) as s:
        s.sendall(b"GET /plate HTTP/1.0\r\n\r\n")
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.0 405")


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_oversize_push_is_refused_without_reading_it(
        start_camera: Callable[..., HttpPushCamera], events: Recorder) -> None:
    camera = start_camera()
    with socket.create_connection(("127.0.0.1", camera.bound_port or 0), timeout=3,
                                  source_address=(CAMERA, 0)) as s:
        s.sendall(b"POST /plate HTTP/1.1\r\nHost: lane\r\nContent-Type: application/json\r\n"
                  + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode())
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.0 413")
    assert "picture push off" in json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"][
        "message_en"]
    # A body of exactly the limit is read (and refused for what it is, not its size).
    status, _ = post(_url(camera), b" " * MAX_BODY_BYTES, source_address=CAMERA)
    assert status == 400


def test_truncated_push_is_refused(start_camera: Callable[..., HttpPushCamera]) -> None:
    camera = start_camera()
    with socket.create_connection(("127.0.0.1", camera.bound_port or 0), timeout=5,
                                  source_address=(CAMERA, 0)) as s:
        s.sendall(b"POST /plate HTTP/1.0\r\nContent-Length: 100\r\n\r\n{\"AlarmInfo")
        s.shutdown(socket.SHUT_WR)
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.0 400")


def test_a_failing_gate_callback_does_not_fail_the_push(
        start_camera: Callable[..., HttpPushCamera]) -> None:
    def broken(read: PlateRead) -> None:
        raise RuntimeError("gate bug")

    camera = start_camera(on_plate=broken)
    assert push_plate(_url(camera), "粤B12345", 95, source_address=CAMERA) == (200, ANSWER)


def test_flood_of_pushes(start_camera: Callable[..., HttpPushCamera], plates: Plates) -> None:
    camera = start_camera(max_handlers=4)
    url = _url(camera)

    def one(n: int) -> int:
        source = CAMERA if n % 5 else OTHER
        body = push_body(f"粤B{n:05d}", 90) if n % 7 else b"garbage"
        try:
            return post(url, body, source_address=source, timeout=10)[0]
        except OSError:
            return 0  # turned away before the request was read

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(one, range(400)))
    assert set(statuses) <= {200, 400, 403, 503, 0}
    counts = camera.counts()
    # Every push the server took is counted once whatever became of its answer (a client
    # can see a reset instead); every plate accepted reached the gate.
    assert counts["accepted"] == len(plates.reads) >= statuses.count(200) > 0
    assert counts["intruders"] >= statuses.count(403)
    assert counts["bad"] >= statuses.count(400)
    assert counts["busy"] >= statuses.count(503)
    # Each push the server took ends in exactly one count; only those a client failed to
    # deliver at all can be missing.
    assert 400 - statuses.count(0) <= sum(counts.values()) <= 400
    # Still serving, and stops at once.
    assert push_plate(url, "粤B99999", 90, source_address=CAMERA)[0] == 200
    started = time.monotonic()
    camera.stop()
    assert time.monotonic() - started < 1.0


def test_stop_is_quick_with_a_silent_client_connected(
        start_camera: Callable[..., HttpPushCamera]) -> None:
    camera = start_camera()
    url = _url(camera)
    with socket.create_connection(("127.0.0.1", camera.bound_port or 0),
                                  source_address=(CAMERA, 0)):
        time.sleep(0.1)
        started = time.monotonic()
        camera.stop()
        assert time.monotonic() - started < 1.0
    assert camera.bound_port is None
    with pytest.raises(OSError):
        push_plate(url, "粤B12345", 95, source_address=CAMERA, timeout=1)


def test_port_taken_is_retried_until_free(
        start_camera: Callable[..., HttpPushCamera], events: Recorder,
        plates: Plates) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    config = CameraConfig(CameraKind.HTTP_PUSH, "127.0.0.1", port, CAMERA, "/plate")
    camera = HttpPushCamera(config, retry_initial=0.05, retry_max=0.2)
    camera.start(plates, events)
    try:
        assert events.wait_for(lambda: "camera_unavailable" in events.kinds())
        [(_kind, data, alarm)] = [e for e in events.events if e[0] == "camera_unavailable"]
        assert alarm and data["camera"] == camera.name
        time.sleep(0.3)
        assert events.kinds().count("camera_unavailable") == 1
        blocker.close()
        assert events.wait_for(lambda: "camera_available" in events.kinds())
        assert push_plate(f"http://127.0.0.1:{port}/plate", "粤B12345", 95,
                          source_address=CAMERA)[0] == 200
    finally:
        blocker.close()
        camera.stop()


def test_bad_camera_address_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="camera_address"):
        HttpPushCamera(CameraConfig(CameraKind.HTTP_PUSH, "127.0.0.1", 0, "camera.lan",
                                    "/plate"))


def test_cli_pushes_to_the_lane_in_the_config(
        tmp_path: Path, start_camera: Callable[..., HttpPushCamera], plates: Plates,
        capsys: pytest.CaptureFixture[str]) -> None:
    from hardware_sim.cli import main
    from tests.edge.conftest import barrier_doc, write_doc

    camera = start_camera()
    doc = barrier_doc(tmp_path)
    doc["camera"] = {"listen_host": "127.0.0.1", "listen_port": camera.bound_port,
                     "camera_address": CAMERA, "path": "/plate"}
    write_doc(tmp_path / "lane.toml", doc)
    assert main(["plate", "--config", str(tmp_path / "lane.toml"), "--plate", "粤B12345",
                 "--confidence", "91"]) == 0
    assert plates.reads == [PlateRead("粤B12345", 91, SIM_SERIALNO)]
    assert "200" in capsys.readouterr().out
    doc.pop("camera")
    write_doc(tmp_path / "door.toml", doc)
    assert main(["plate", "--config", str(tmp_path / "door.toml"), "--plate", "粤B1"]) == 2


def test_refused_body_is_not_read_as_the_next_request(
        start_camera: Callable[..., HttpPushCamera], plates: Plates) -> None:
    camera = start_camera()
    conn = http.client.HTTPConnection("127.0.0.1", camera.bound_port or 0, timeout=5,
                                      source_address=(CAMERA, 0))
    try:
        body = push_body("粤B11111", 90)
        conn.request("POST", "/wrong", body=body)
        first = conn.getresponse()
        first.read()
        assert first.status == 404
        conn.request("POST", "/plate", body=push_body("粤B22222", 90))
        second = conn.getresponse()
        assert (second.status, json.loads(second.read())) == (200, ANSWER)
    finally:
        conn.close()
    assert [r.plate for r in plates.reads] == ["粤B22222"]
    assert camera.counts()["bad"] == 1
