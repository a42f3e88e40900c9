"""The lane's licence-plate camera: the camera pushes every recognition to this controller
over HTTP, as the common Chinese ANPR cameras do (Vzenith/臻识 and the cameras that copy
its format). A push is a POST of JSON::

    {"AlarmInfoPlate": {"serialno": "e6c5fd8b-2c0a3c31", "ipaddr": "192.168.1.100",
                        "deviceName": "IVS", "channel": 0,
                        "result": {"PlateResult": {"license": "粤B12345", "confidence": 95,
                                                   "timeStamp": {"Timeval": {"sec": 1700000000}},
                                                   ...}}}}

Only ``license`` and ``confidence`` are read (and ``serialno`` or ``ipaddr`` to name the
camera in the journal); every other field is ignored. The answer is the camera's expected
``{"Response_AlarmInfoPlate": {"info": "no"}}``: ``"info": "ok"`` would make the camera
raise the barrier with its own relay, and here the gate decides and opens.

What is refused, never crashing the server and never reaching the gate:

- a push from any address but ``[camera] camera_address``: 403, and a ``camera_intruder``
  alarm (``camera``, ``address`` of the first, ``count``, ``seconds``) at most once a
  minute (the first at once, then the count of those that followed);
- a push that is not one plate read (wrong path or method, no length, over
  ``MAX_BODY_BYTES`` — a camera set to push its pictures, which this controller does not
  keep —, not JSON, no ``license``, not a plate by edge.plates.normalize_plate, a
  ``confidence`` that is not 0..100): a 4xx with a bilingual error, and a
  ``camera_bad_push`` event (``camera``, ``count``, ``sample``, ``error``, ``seconds``)
  coalesced in the same way;
- more than ``MAX_HANDLERS`` pushes at once: 503 (a flood cannot exhaust threads).

A push whose licence says the camera saw no plate (``_无_``, ``无牌车``) is answered 200 and
counted, not passed on. If the port cannot be bound (the lane's interface not up yet) the
camera retries with backoff and reports ``camera_unavailable`` (alarm, once per outage)
then ``camera_available``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from edge.plates import normalize_plate
from edge.ports import EventSink, PlateCamera, PlateRead
from edge.readers import Backoff
from edge.readers.garbage import GARBAGE_INTERVAL_S, GarbageCounter, GarbageReport
from firmware_config.lane_tables import CameraConfig, CameraKind

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_HANDLERS = 8
# A camera sends its push at once; a connection that dawdles longer is dropped.
REQUEST_TIMEOUT_S = 2.0
# How often the server loop looks at the stop flag and at reports that are due.
POLL_S = 0.1
STOP_JOIN_S = 1.0
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 30.0
SAMPLE_CHARS = 64
NO_PLATE = frozenset({"_无_", "无牌车", "无车牌", "无"})
CHARSETS = frozenset({"utf-8", "utf8", "gbk", "gb2312", "gb18030"})
ANSWER = {"Response_AlarmInfoPlate": {"info": "no"}}


class BadPushError(ValueError):
    """A push that is not one plate read: the HTTP status and the bilingual reason."""

    def __init__(self, status: int, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.status = status
        self.message_zh = message_zh
        self.message_en = message_en


def parse_push(body: bytes, charset: str = "utf-8") -> PlateRead | None:
    """The plate read in one push body; None when the camera saw no plate; BadPushError for
    anything else. ``camera`` is the push's ``serialno`` (else its ``ipaddr``, else "")."""
    try:
        doc = json.loads(body.decode(charset))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadPushError(400, "推送内容不是 JSON", f"the push is not JSON: {exc}") from exc
    info = _object(doc, "AlarmInfoPlate")
    plate_result = _object(_object(info, "result"), "PlateResult")
    license_text = plate_result.get("license")
    if not isinstance(license_text, str):
        raise BadPushError(400, "推送缺少车牌号 (license)", "the push has no text license")
    confidence = plate_result.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) \
            or not math.isfinite(confidence) or not 0 <= confidence <= 100:
        raise BadPushError(400, "置信度 (confidence) 应为 0 到 100",
                      f"confidence {confidence!r} is not a number from 0 to 100")
    if license_text.strip() in NO_PLATE:
        return None
    try:
        plate = normalize_plate(license_text)
    except ValueError as exc:
        raise BadPushError(400, f"{license_text[:20]!r} 不是车牌号", str(exc)) from exc
    return PlateRead(plate=plate, confidence=round(confidence), camera=_camera_id(info))


def _object(value: object, key: str) -> dict[str, Any]:
    inner = value.get(key) if isinstance(value, dict) else None
    if not isinstance(inner, dict):
        raise BadPushError(400, f"推送缺少 {key}", f"the push has no object {key!r}")
    return inner


def _camera_id(info: Mapping[str, Any]) -> str:
    for key in ("serialno", "ipaddr"):
        value = info.get(key)
        if isinstance(value, str) and value.strip() and value.isprintable():
            return value.strip()[:64]
    return ""


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class HttpPushCamera:
    """A ``PlateCamera`` receiving the camera's pushes on its own HTTP server thread."""

    def __init__(self, config: CameraConfig, *, now: Callable[[], float] = time.monotonic,
                 report_interval: float = GARBAGE_INTERVAL_S,
                 retry_initial: float = RETRY_INITIAL_S, retry_max: float = RETRY_MAX_S,
                 max_handlers: int = MAX_HANDLERS) -> None:
        try:
            self._camera_address = _address(config.camera_address)
        except ValueError as exc:
            raise ValueError(f"[camera] camera_address {config.camera_address!r} is not an "
                             "IP address") from exc
        self._host, self._port, self._path = config.listen_host, config.listen_port, config.path
        self._now = now
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self._lock = threading.Lock()
        self._bad = GarbageCounter(report_interval, now)
        self._intruders = GarbageCounter(report_interval, now)
        self._slots = threading.BoundedSemaphore(max_handlers)
        self._stop = threading.Event()
        self._server: _PushServer | None = None
        self._thread: threading.Thread | None = None
        self._on_plate: Callable[[PlateRead], None] = lambda read: None
        self._sink: EventSink | None = None
        self._available: bool | None = None
        self._counts = {"accepted": 0, "no_plate": 0, "bad": 0, "intruders": 0, "busy": 0}

    @property
    def name(self) -> str:
        """Where the camera pushes, for events and logs."""
        return f"http://{self._host}:{self._port}{self._path}"

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (listen_port, or the one chosen for port 0)."""
        server = self._server
        return None if server is None else int(server.server_address[1])

    @property
    def is_available(self) -> bool:
        """Whether the server is listening."""
        return self._available is True

    def start(self, on_plate: Callable[[PlateRead], None], emit: EventSink) -> None:
        """Listen on a daemon thread; ``on_plate`` and ``emit`` run on the server's threads."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"camera {self.name} is already running")
        self._on_plate, self._sink = on_plate, emit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera {self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and report what is still counted; returns within a second."""
        self._stop.set()
        with self._lock:
            server = self._server
        if server is not None:
            server.shutdown()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_JOIN_S)
            if thread.is_alive():
                log.warning("camera %s did not stop within %.1f s", self.name, STOP_JOIN_S)

    def counts(self) -> dict[str, int]:
        """Pushes since start: accepted, no_plate, bad, intruders, busy (turned away)."""
        with self._lock:
            return dict(self._counts)

    def status(self) -> Mapping[str, object]:
        """Availability and the counts, for the gate's status."""
        return {"camera": self.name, "available": self.is_available, **self.counts()}

    # -- the server thread ----------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(self._retry_initial, self._retry_max)
        while not self._stop.is_set():
            try:
                server = _PushServer((self._host, self._port), self)
            except OSError as exc:
                delay = backoff.next_delay()
                self._mark_unavailable(exc, delay)
                self._stop.wait(delay)
                continue
            with self._lock:
                if self._stop.is_set():
                    server.server_close()
                    break
                self._server = server
            self._mark_available()
            try:
                server.serve_forever(poll_interval=POLL_S)
            finally:
                server.server_close()
                with self._lock:
                    self._server = None
            break
        self._report(self._bad.flush, self._bad_push_event)
        self._report(self._intruders.flush, self._intruder_event)
        self._available = None

    def _mark_available(self) -> None:
        log.info("camera %s listening", self.name)
        self._emit("camera_available", {"camera": self.name})
        self._available = True

    def _mark_unavailable(self, error: OSError, delay: float) -> None:
        log.log(logging.INFO if self._available is False else logging.WARNING,
                "camera %s cannot listen (%s); retrying in %.1f s", self.name, error, delay)
        if self._available is False:
            return
        self._available = False
        self._emit("camera_unavailable", {"camera": self.name, "error": str(error)[:200],
                                          "retry_in_s": round(delay, 3)}, alarm=True)

    # -- one push, on a handler thread ---------------------------------------------------

    def handle(self, request: _PushHandler) -> None:
        """Judge one request and answer it; nothing a client sends raises out of here."""
        peer = request.client_address[0]
        if not self._from_camera(peer):
            with self._lock:
                self._counts["intruders"] += 1
            self._report(lambda: self._intruders.add(peer, "not the camera's address"),
                         self._intruder_event)
            request.discard_body()
            request.answer(403, {"error": {
                "message_zh": "只接受本车道相机的推送",
                "message_en": "pushes are taken from this lane's camera only"}})
            return
        try:
            body = self._body(request)
            read = parse_push(body, self._charset(request))
        except BadPushError as exc:
            self._refuse(request, exc)
            return
        if read is None:
            with self._lock:
                self._counts["no_plate"] += 1
            request.answer(200, ANSWER)
            return
        if not read.camera:
            read = PlateRead(read.plate, read.confidence, peer)
        with self._lock:
            self._counts["accepted"] += 1
        try:
            self._on_plate(read)
        except Exception:
            # The gate's bug must not look like a bad push (the camera would resend it).
            log.exception("on_plate failed for %s", read.plate)
        request.answer(200, ANSWER)

    def _from_camera(self, peer: str) -> bool:
        try:
            return _address(peer) == self._camera_address
        except ValueError:
            return False

    def _body(self, request: _PushHandler) -> bytes:
        if request.command != "POST":
            raise BadPushError(405, "只接受 POST", f"method {request.command} is not POST")
        if urlsplit(request.path).path != self._path:
            raise BadPushError(404, "推送路径不对",
                               f"path {request.path[:64]!r} is not {self._path}")
        text = request.headers.get("Content-Length")
        if text is None or not text.strip().isdigit():
            request.close_connection = True
            raise BadPushError(411, "推送缺少长度", "the push has no Content-Length")
        length = int(text)
        if length > MAX_BODY_BYTES:
            request.close_connection = True  # its body is never read
            raise BadPushError(413, "推送过大：请关闭相机的图片推送",
                          f"the push of {length} bytes is over {MAX_BODY_BYTES}: turn the "
                          "camera's picture push off")
        try:
            body = request.rfile.read(length)
        except OSError as exc:
            request.close_connection = True
            raise BadPushError(400, "推送未收完", f"the push was not received: {exc}") from exc
        if len(body) != length:
            request.close_connection = True
            raise BadPushError(400, "推送未收完", f"{len(body)} of {length} bytes received")
        request.body_read = True
        request.body_sample = body[:SAMPLE_CHARS]
        return body

    def _charset(self, request: _PushHandler) -> str:
        charset = (request.headers.get_content_charset() or "utf-8").lower()
        if charset not in CHARSETS:
            raise BadPushError(415, f"不支持的编码 {charset[:20]}", f"charset {charset[:20]!r} is "
                          "not UTF-8 or GBK")
        return charset

    def _refuse(self, request: _PushHandler, exc: BadPushError) -> None:
        with self._lock:
            self._counts["bad"] += 1
        if not request.body_read:
            request.discard_body()  # else it would be read as the next request
        sample = request.sample()
        self._report(lambda: self._bad.add(sample, exc.message_en), self._bad_push_event)
        request.answer(exc.status, {"error": {"message_zh": exc.message_zh,
                                              "message_en": exc.message_en}})

    # -- reports, coalesced (edge.readers.garbage) ---------------------------------------

    def tick(self) -> None:
        """Report what an interval that has just ended counted (the server loop calls this)."""
        self._report(self._bad.due, self._bad_push_event)
        self._report(self._intruders.due, self._intruder_event)

    def _report(self, take: Callable[[], GarbageReport | None],
                send: Callable[[GarbageReport], None]) -> None:
        with self._lock:  # the counters are not thread-safe; handlers run concurrently
            report = take()
        if report is not None:
            send(report)

    def _bad_push_event(self, report: GarbageReport) -> None:
        log.info("camera %s: %d bad push(es) in %.0f s, the first %r: %s", self.name,
                 report.count, report.seconds, report.line, report.error)
        self._emit("camera_bad_push", {"camera": self.name, "count": report.count,
                                       "sample": report.line, "error": report.error[:200],
                                       "seconds": report.seconds})

    def _intruder_event(self, report: GarbageReport) -> None:
        log.warning("camera %s: %d push(es) from another address in %.0f s, the first "
                    "from %s", self.name, report.count, report.seconds, report.line)
        self._emit("camera_intruder", {"camera": self.name, "address": report.line,
                                       "count": report.count, "seconds": report.seconds},
                   alarm=True)

    def _emit(self, kind: str, data: Mapping[str, object], *, alarm: bool = False) -> None:
        if self._sink is None:
            return
        try:
            self._sink(kind, data, alarm=alarm)
        except Exception:
            log.exception("emitting %s failed", kind)

    def admit(self) -> bool:
        """Whether one more request may be served now (fewer than MAX_HANDLERS are); a
        request turned away is counted. An admitted one ends with ``release``."""
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            self._counts["busy"] += 1
        return False

    def release(self) -> None:
        """An admitted request has been served."""
        self._slots.release()


def build_camera(config: CameraConfig) -> PlateCamera:
    """The camera adapter for ``config`` (not started)."""
    if config.kind is CameraKind.HTTP_PUSH:
        return HttpPushCamera(config)
    raise TypeError(f"no camera adapter for kind {config.kind!r}")


class _PushHandler(BaseHTTPRequestHandler):
    server: _PushServer
    timeout = REQUEST_TIMEOUT_S
    server_version = "menwei-lane"
    sys_version = ""
    body_read = False
    body_sample = b""

    def do_POST(self) -> None:
        self.server.camera.handle(self)

    # Other methods are answered 405 by handle(), and counted as bad pushes.
    def do_GET(self) -> None:
        self.server.camera.handle(self)

    def do_PUT(self) -> None:
        self.server.camera.handle(self)

    def answer(self, status: int, body: Mapping[str, object]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError as exc:
            log.debug("camera answer not sent: %s", exc)

    def discard_body(self) -> None:
        """Read and drop a refused request's body, so that closing the connection does not
        reset it before the client has read the answer; a body declared over
        MAX_BODY_BYTES is not read, and the connection is closed."""
        self.close_connection = True
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if 0 < length <= MAX_BODY_BYTES:
                self.rfile.read(length)
        except (ValueError, OSError):
            pass

    def sample(self) -> str:
        """The request as a report shows it: its request line and the start of its body."""
        body = self.body_sample.decode("utf-8", "backslashreplace")
        return f"{self.requestline} {body}"[:SAMPLE_CHARS]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("camera push %s: " + format, self.client_address[0], *args)


class _PushServer(ThreadingHTTPServer):
    daemon_threads = True
    # Connections waiting to be accepted; beyond MAX_HANDLERS they are answered 503 at once.
    request_queue_size = 64
    block_on_close = False  # stop() must not wait for a slow client

    def __init__(self, address: tuple[str, int], camera: HttpPushCamera) -> None:
        self.camera = camera
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _PushHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.camera.admit():
            try:
                request.settimeout(0.1)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\n"
                                b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.camera.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.camera.release()

    def service_actions(self) -> None:
        self.camera.tick()


__all__ = ["ANSWER", "MAX_BODY_BYTES", "MAX_HANDLERS", "BadPushError", "HttpPushCamera",
           "build_camera", "parse_push"]
