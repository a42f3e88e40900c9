"""A site broker bridged to the company's central broker (issue 14): what ``menwei-sync
broker-config --bridge-*`` and ``central-broker-acl`` write, what they refuse, and real
Mosquittos on loopback showing the rendered bridge carries a site's topics both ways, over
TLS too, with the desk's retained messages served to devices that connect later."""

from __future__ import annotations

import getpass
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hardware_sim.local_ports import free_tcp_port
from hardware_sim.office_link import OfficeLink
from hardware_sim.site_broker import start_mosquitto, stop_mosquitto
from sync.broker.central_broker import (
    CentralBrokerLayout,
    render_central_acl,
    render_central_conf,
    render_emqx_acl,
    write_central_broker,
)
from sync.broker.config import (
    BRIDGED_MAX_QUEUED,
    BrokerLayout,
    CentralBridge,
    bridge_user,
    render_acl,
    render_bridge,
    render_conf,
    write_broker,
)
from sync.broker.provision import load_site
from sync.cli import main
from sync.wire.topics import CENTRAL_USER
from tests.sync.conftest import MakeSiteCa, Probe

SITE = "garden-court"
RUN_AS = getpass.getuser() if os.geteuid() == 0 else None
RUN_AS_ARGS = ["--user", RUN_AS] if RUN_AS else []


def _run(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capfd.readouterr()
    return rc, out, err


def _password(folder: Path, text: str = "s3cret-garden\n") -> Path:
    path = folder / "bridge.pw"
    path.write_text(text)
    return path


def _conf_lines(layout: BrokerLayout) -> list[str]:
    return [line for line in render_conf(layout).splitlines()
            if line and not line.startswith("#")]


def test_the_bridge_section_carries_only_the_sites_topics_queued_and_over_tls(
        tmp_path: Path) -> None:
    bridge = CentralBridge("mqtt.office.example", 8883, bridge_user(SITE), _password(tmp_path),
                           tmp_path / "office-ca.crt", tmp_path / "site.crt",
                           tmp_path / "site.key")
    layout = BrokerLayout(SITE, tmp_path, tmp_path / "data", 1883, bridge=bridge)
    lines = _conf_lines(layout)
    bridge_part = lines[lines.index("connection menwei-central"):]
    assert bridge_part == [
        "connection menwei-central",
        "address mqtt.office.example:8883",
        "bridge_protocol_version mqttv311",
        "try_private true",
        "remote_clientid menwei-bridge-garden-court",
        "remote_username menwei-bridge-garden-court",
        "remote_password s3cret-garden",
        "local_clientid menwei:bridge:garden-court",
        "cleansession false",
        "local_cleansession false",
        "start_type automatic",
        "restart_timeout 2 10",
        "keepalive_interval 20",
        "notifications true",
        "notification_topic menwei/garden-court/bridge/state",
        "topic menwei/garden-court/# both 1",
        f"bridge_cafile {tmp_path / 'office-ca.crt'}",
        "bridge_tls_version tlsv1.2",
        "bridge_insecure false",
        f"bridge_certfile {tmp_path / 'site.crt'}",
        f"bridge_keyfile {tmp_path / 'site.key'}",
    ]
    # The queue that holds the site's messages while the link is down is sized for it.
    assert f"max_queued_messages {BRIDGED_MAX_QUEUED}" in lines
    assert "max_queued_messages 10000" in _conf_lines(
        BrokerLayout(SITE, tmp_path, tmp_path / "data", 1883))
    # The bridge's user is the source of the retained messages it brings in.
    acl = render_acl(SITE, bridge=bridge)
    assert "user menwei-bridge-garden-court\ntopic readwrite menwei/garden-court/#" in acl
    assert "menwei-bridge" not in render_acl(SITE)


def test_the_conf_holding_the_bridge_password_is_not_world_readable(tmp_path: Path) -> None:
    bridge = CentralBridge("127.0.0.1", 1883, bridge_user(SITE), _password(tmp_path))
    layout = BrokerLayout(SITE, tmp_path / "broker", tmp_path / "data", free_tcp_port(),
                          run_as=RUN_AS, bridge=bridge)
    write_broker(layout, {CENTRAL_USER: "pw"})
    assert stat.S_IMODE(layout.conf.stat().st_mode) == 0o640


@pytest.mark.parametrize(("extra", "message"), [
    (["--bridge-host", "office"], "--bridge-password-file"),
    (["--bridge-host", "office", "--bridge-password-file", "PW"], "--bridge-ca"),
    (["--bridge-host", "office", "--bridge-password-file", "PW", "--bridge-plain",
      "--bridge-ca", "PW"], "contradict"),
    (["--bridge-password-file", "PW"], "needs --bridge-host"),
    (["--bridge-host", "office", "--bridge-password-file", "PW", "--bridge-plain",
      "--no-bridge"], "contradict"),
    (["--bridge-host", "office:8883", "--bridge-password-file", "PW", "--bridge-plain"],
     "--bridge-port"),
    (["--bridge-host", "office", "--bridge-port", "70000", "--bridge-password-file", "PW",
      "--bridge-plain"], "not a TCP port"),
    (["--bridge-host", "office", "--bridge-password-file", "PW", "--bridge-ca", "PW",
      "--bridge-cert", "PW"], "go together"),
    (["--bridge-host", "office", "--bridge-password-file", "PW", "--bridge-ca", "NOPE"],
     "no such file"),
    (["--bridge-host", "office", "--bridge-password-file", "SPACED", "--bridge-plain"],
     "one line without spaces"),
    (["--bridge-host", "office", "--bridge-password-file", "NOPE", "--bridge-plain"],
     "--bridge-password-file"),
])
def test_broker_config_refuses_an_unusable_bridge(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], extra: list[str],
        message: str) -> None:
    pw = _password(tmp_path)
    spaced = tmp_path / "spaced.pw"
    spaced.write_text("two words\n")
    argv = [{"PW": str(pw), "SPACED": str(spaced), "NOPE": str(tmp_path / "nope")}.get(a, a)
            for a in extra]
    rc, _, err = _run(capfd, "broker-config", "--site", SITE, "--dir",
                      str(tmp_path / "broker"), "--data-dir", str(tmp_path / "data"), *argv)
    assert rc == 2, err
    assert message in err
    assert not (tmp_path / "broker" / "mosquitto.conf").exists()


def test_broker_config_keeps_the_bridge_on_a_rerun_until_told_to_drop_it(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "broker"
    base = ["broker-config", "--site", SITE, "--dir", str(directory), "--data-dir",
            str(tmp_path / "data"), *RUN_AS_ARGS]
    rc, out, err = _run(capfd, *base, "--bridge-host", "127.0.0.1", "--bridge-plain",
                        "--bridge-password-file", str(_password(tmp_path)))
    assert rc == 0, err
    assert "bridge to 127.0.0.1:1883 as menwei-bridge-garden-court" in out
    copy = directory / "bridge.password"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    # site.json records where the password is, never the password.
    assert "s3cret" not in (directory / "site.json").read_text()
    assert json.loads((directory / "site.json").read_text())["bridge"]["password_file"] == \
        str(copy)

    rc, _, err = _run(capfd, *base, "--max-connections", "40")
    assert rc == 0, err
    kept = load_site(directory).layout.bridge
    assert kept is not None and kept.host == "127.0.0.1"
    assert "remote_password s3cret-garden" in (directory / "mosquitto.conf").read_text()

    rc, _, err = _run(capfd, *base, "--no-bridge")
    assert rc == 0, err
    assert load_site(directory).layout.bridge is None
    assert "connection menwei-central" not in (directory / "mosquitto.conf").read_text()
    assert not copy.exists()
    assert "menwei-bridge" not in (directory / "acl").read_text()


def test_provision_refuses_the_bridges_name(tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "broker"
    rc, _, err = _run(capfd, "broker-config", "--site", SITE, "--dir", str(directory),
                      "--data-dir", str(tmp_path / "data"), *RUN_AS_ARGS)
    assert rc == 0, err
    rc, out, _ = _run(capfd, "keygen", "--out", str(tmp_path / "central.key"))
    rc, _, err = _run(capfd, "provision", "--site", SITE, "--device",
                      bridge_user(SITE), "--broker-dir", str(directory), "--public-key",
                      out.strip(), "--broker-host", "127.0.0.1", "--out",
                      str(tmp_path / "dev" / "sync.toml"))
    assert rc == 2
    assert "kept for the bridge" in err


def test_central_broker_acl_gives_each_site_its_own_topics(
        capfd: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capfd, "central-broker-acl", "--site", "b-court", "--site", SITE)
    assert rc == 0
    assert out == render_central_acl([SITE, "b-court"])
    blocks = [b for b in out.split("\n\n") if b.startswith("# site") or "user" in b]
    assert "user menwei-central\ntopic readwrite menwei/#" in out
    assert "user menwei-bridge-garden-court\ntopic readwrite menwei/garden-court/#" in out
    assert "user menwei-bridge-b-court\ntopic readwrite menwei/b-court/#" in out
    assert len(blocks) == 3
    rc, out, _ = _run(capfd, "central-broker-acl", "--site", SITE, "--format", "emqx")
    assert out == render_emqx_acl([SITE])
    assert '{allow, {username, "menwei-bridge-garden-court"}, all, ["menwei/garden-court/#"]}.' \
        in out
    assert out.rstrip().endswith("{deny, all}.")
    rc, _, err = _run(capfd, "central-broker-acl", "--site", "a/b")
    assert rc == 2 and "site id 'a/b'" in err


# --- real brokers ----------------------------------------------------------------------------


class Bridged:
    """A central Mosquitto and one site broker bridged to it through an OfficeLink."""

    def __init__(self, root: Path, tls_folder: Path | None = None) -> None:
        self.central = CentralBrokerLayout(root / "central", root / "central" / "data",
                                           free_tcp_port(), free_tcp_port(),
                                           bind="127.0.0.1", run_as=RUN_AS)
        if tls_folder is not None:
            self.central = replace(self.central, tls_ca=tls_folder / "ca.crt",
                                   tls_cert=tls_folder / "server.crt",
                                   tls_key=tls_folder / "server.key")
        write_central_broker(self.central, [(SITE, "bridge-pw")], "desk-pw")
        self.link = OfficeLink(self.central.port)
        pw = root / "bridge.pw"
        pw.write_text("bridge-pw\n")
        bridge = CentralBridge("127.0.0.1", self.link.port, bridge_user(SITE), pw,
                               tls_folder / "ca.crt" if tls_folder else None)
        self.site = BrokerLayout(SITE, root / "site", root / "site" / "data", free_tcp_port(),
                                 run_as=RUN_AS, bridge=bridge)
        write_broker(self.site, {CENTRAL_USER: "c", "gate1": "g1"})
        self.procs = [start_mosquitto(self.central.conf, self.central.desk_port)]
        self.link.restore()
        self.procs.append(start_mosquitto(self.site.conf, self.site.port))
        self.probes: list[Probe] = []

    def client(self, port: int, username: str, password: str, client_id: str) -> Probe:
        probe = Probe(port, username, password, client_id=client_id)
        self.probes.append(probe)
        rc = probe.connect()
        assert rc is not None and not rc.is_failure, rc
        return probe

    def close(self) -> None:
        for probe in self.probes:
            probe.close()
        self.link.cut()
        for proc in self.procs:
            stop_mosquitto(proc)


@pytest.fixture
def bridged(tmp_path: Path) -> Iterator[Bridged]:
    stack = Bridged(tmp_path)
    yield stack
    stack.close()


def _wait_bridge_up(stack: Bridged, desk: Probe) -> None:
    desk.subscribe(f"menwei/{SITE}/bridge/state")
    assert desk.wait_for(f"menwei/{SITE}/bridge/state", b"1", 15), "the bridge never came up"


def test_the_bridge_carries_the_site_both_ways_and_queues_while_cut(bridged: Bridged) -> None:
    desk = bridged.client(bridged.central.desk_port, CENTRAL_USER, "desk-pw", "desk-site")
    _wait_bridge_up(bridged, desk)
    desk.subscribe(f"menwei/{SITE}/dev/+/events")
    # The desk's retained site rules reach a gate that connects after they were published:
    # without the bridge user in the site ACL, check_retain_source would hide them.
    assert desk.publish(f"menwei/{SITE}/rules", b"R1", retain=True) == 0
    gate = bridged.client(bridged.site.port, "gate1", "g1", "gate1")
    gate.subscribe(f"menwei/{SITE}/rules")
    gate.subscribe(f"menwei/{SITE}/dev/gate1/ack")
    assert gate.wait_for(f"menwei/{SITE}/rules", b"R1", 5)
    assert gate.publish(f"menwei/{SITE}/dev/gate1/events", b"E1") == 0
    assert desk.wait_for(f"menwei/{SITE}/dev/gate1/events", b"E1", 5)

    bridged.link.cut()
    assert desk.wait_for(f"menwei/{SITE}/bridge/state", b"0", 15)  # the bridge's will
    assert desk.publish(f"menwei/{SITE}/dev/gate1/ack", b"A1") == 0
    assert gate.publish(f"menwei/{SITE}/dev/gate1/events", b"E2") == 0
    assert not gate.wait_for(f"menwei/{SITE}/dev/gate1/ack", b"A1", 1)
    bridged.link.restore()
    assert gate.wait_for(f"menwei/{SITE}/dev/gate1/ack", b"A1", 20)
    assert desk.wait_for(f"menwei/{SITE}/dev/gate1/events", b"E2", 20)
    # Nothing looped back. The bridge is QoS 1, at least once: E1, whose PUBACK may still
    # have been on its way back when the link was cut, can come again once (the desk
    # stores on device, journal and seq); E2 and A1, queued across the cut, come once.
    events = desk.on(f"menwei/{SITE}/dev/gate1/events")
    assert events in ([b"E1", b"E2"], [b"E1", b"E1", b"E2"])
    assert gate.on(f"menwei/{SITE}/dev/gate1/ack") == [b"A1"]


def test_a_site_bridge_cannot_reach_another_sites_topics(bridged: Bridged) -> None:
    # The bridge's user, logging in to the central broker itself, is confined to its site.
    desk = bridged.client(bridged.central.desk_port, CENTRAL_USER, "desk-pw", "desk-x")
    desk.subscribe("menwei/other-site/#")
    intruder = bridged.client(bridged.central.port, bridge_user(SITE), "bridge-pw", "any")
    assert intruder.publish("menwei/other-site/auth/changes", b"forged") == 0x87 or \
        not desk.wait_for("menwei/other-site/auth/changes", b"forged", 1)
    # ... and it cannot log in on the desk's listener at all.
    probe = Probe(bridged.central.desk_port, bridge_user(SITE), "bridge-pw", client_id="x")
    rc = probe.connect()
    probe.close()
    assert rc is None or rc.is_failure


def test_a_tls_bridge_connects(tmp_path: Path, make_site_ca: MakeSiteCa) -> None:
    ca = make_site_ca(tmp_path / "office-ca", "127.0.0.1")
    stack = Bridged(tmp_path / "stack", tls_folder=ca)
    try:
        assert "bridge_cafile" in stack.site.conf.read_text()
        desk = stack.client(stack.central.desk_port, CENTRAL_USER, "desk-pw", "desk-tls")
        _wait_bridge_up(stack, desk)
        gate = stack.client(stack.site.port, "gate1", "g1", "gate1")
        desk.subscribe(f"menwei/{SITE}/dev/+/status")
        assert gate.publish(f"menwei/{SITE}/dev/gate1/status", b"up", retain=True) == 0
        assert desk.wait_for(f"menwei/{SITE}/dev/gate1/status", b"up", 5)
    finally:
        stack.close()


DOC = Path(__file__).parents[2] / "docs" / "company-brokers.md"


def _listings() -> list[list[str]]:
    return [m.group(1).splitlines() for m in re.finditer(r"^```[a-z]*\n(.*?)^```$",
                                                        DOC.read_text(encoding="utf-8"),
                                                        re.MULTILINE | re.DOTALL)]


def test_the_guide_shows_the_bridge_and_central_broker_as_rendered() -> None:
    folder = Path("/etc/mosquitto/menwei")
    bridge = CentralBridge("mqtt.office.example.com", 8883, bridge_user(SITE),
                           folder / "bridge.password", folder / "bridge-ca.crt")
    shown = [line for line in render_bridge(SITE, bridge, "PASSWORD")
             if not line.startswith("#")]
    central_dir = Path("/etc/mosquitto/menwei-central")
    central = CentralBrokerLayout(central_dir, Path("/var/lib/mosquitto"), 8883, 1884,
                                  tls_ca=central_dir / "ca.crt",
                                  tls_cert=central_dir / "server.crt",
                                  tls_key=central_dir / "server.key")
    central_lines = [line for line in render_central_conf(central).splitlines()
                     if not line.startswith("#")]
    listings = _listings()
    assert shown in listings
    assert central_lines in listings
    text = DOC.read_text(encoding="utf-8")
    for setting in {line.split()[0] for line in shown}:
        assert f"`{setting}" in text, setting
