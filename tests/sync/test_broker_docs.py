"""The installer's guide (firmware_config/mosquitto/README.md) shows, line by line, the
mosquitto.conf that broker-config writes for its example site: a setting added to the broker
(a limit, say) cannot go unexplained."""

from __future__ import annotations

import re
from pathlib import Path

from sync.broker.config import BrokerLayout, render_conf

README = Path(__file__).parents[2] / "firmware_config" / "mosquitto" / "README.md"


def shown_conf() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The generated `mosquitto.conf`, line by line", 1)[1]
    match = re.search(r"^```\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert match, "no mosquitto.conf listing in the README"
    return match.group(1).splitlines()


def test_the_guide_shows_the_conf_broker_config_writes() -> None:
    folder = Path("/etc/mosquitto/menwei")
    layout = BrokerLayout(site="garden-court", conf_dir=folder,
                          data_dir=Path("/var/lib/mosquitto"), port=1883, tls_port=8883,
                          tls_bind="0.0.0.0", tls_ca=folder / "ca.crt",
                          tls_cert=folder / "server.crt", tls_key=folder / "server.key")
    written = [line for line in render_conf(layout).splitlines()
               if line and not line.startswith("#")]
    assert shown_conf() == written


def test_the_guide_explains_every_setting() -> None:
    text = README.read_text(encoding="utf-8")
    for setting in {line.split()[0] for line in shown_conf()}:
        assert f"`{setting}" in text.split("| setting | why |", 1)[1], setting
