"""The site broker's ACL, against a real Mosquitto configured by sync.broker.config.

A denied publish is checked twice: the PUBACK carries a failure reason code (0x87 'Not
authorized' from Mosquitto 2.0 to an MQTT v5 client), and the message never reaches a
subscriber. "Never" is made exact without waiting: after the denied publish is acknowledged,
the central user publishes a marker on the same topic, and the subscriber must receive the
marker and nothing before it — the broker forwards one topic's messages to one subscriber in
the order it accepted them, so a leaked message would have arrived first.
"""

from __future__ import annotations

import time

import pytest

from sync.broker.config import remove_user, write_acl
from sync.wire import topics
from sync.wire.topics import CENTRAL_USER
from tests.sync.conftest import SITE, Broker, ConnectProbe, Probe

NOT_AUTHORIZED = 0x87
MARKER = b"marker-from-central"


def _central(broker: Broker, connect: ConnectProbe) -> Probe:
    return connect(broker.port, CENTRAL_USER, broker.passwords[CENTRAL_USER])


def _device(broker: Broker, connect: ConnectProbe, device: str) -> Probe:
    return connect(broker.port, device, broker.passwords[device])


def _assert_only_marker_arrives(subscriber: Probe, central: Probe, topic: str) -> None:
    """``subscriber`` (already subscribed to ``topic``) gets central's marker, and nothing
    else was delivered on ``topic`` before it."""
    assert not central.publish(topic, MARKER).is_failure
    assert subscriber.wait_for(topic, MARKER), f"the subscriber never got the marker on {topic}"
    assert subscriber.on(topic) == [MARKER], f"a denied message reached {topic}"


# --- what a device may not do -----------------------------------------------------------------

DENIED_PUBLISH = {
    "other device's events": topics.events(SITE, "dev-b"),
    "other device's status": topics.status(SITE, "dev-b"),
    "other device's catchup": topics.catchup(SITE, "dev-b"),
    "site auth changes": topics.auth_changes(SITE),
    "other device's cmd": topics.command(SITE, "dev-b"),
    "other device's auth": topics.device_auth(SITE, "dev-b"),
    "other device's ack": topics.ack(SITE, "dev-b"),
    "own cmd": topics.command(SITE, "dev-a"),
    "own auth": topics.device_auth(SITE, "dev-a"),
    "own ack": topics.ack(SITE, "dev-a"),
    "own booth list": topics.booth_list(SITE, "dev-a"),
    "other device's booth list": topics.booth_list(SITE, "dev-b"),
    "site rules": topics.site_rules(SITE),
}


@pytest.mark.parametrize("topic", DENIED_PUBLISH.values(), ids=DENIED_PUBLISH.keys())
def test_device_cannot_publish_there(broker: Broker, mqtt_clients: ConnectProbe,
                                     topic: str) -> None:
    central = _central(broker, mqtt_clients)
    assert not central.subscribe(f"{topics.ROOT}/#").is_failure
    dev_a = _device(broker, mqtt_clients, "dev-a")

    rc = dev_a.publish(topic, b"forged by dev-a")

    assert rc.is_failure, f"dev-a's publish to {topic} was accepted: {rc}"
    assert rc.value == NOT_AUTHORIZED, rc
    _assert_only_marker_arrives(central, central, topic)


def test_subscribe_to_another_device_is_granted_but_delivers_nothing(
        broker: Broker, mqtt_clients: ConnectProbe) -> None:
    # Mosquitto's ACL file is consulted when a message is published and when it is delivered,
    # never for the SUBSCRIBE itself: 2.0.11 (and every later version, "FIXME - implement ACL
    # subscription strings" in its source) grants the subscription. Confinement rests on
    # delivery, checked below; this assertion records the broker's behaviour so that relying
    # on a SUBACK failure would be caught here.
    central = _central(broker, mqtt_clients)
    dev_a = _device(broker, mqtt_clients, "dev-a")
    other_cmd, own_cmd = topics.command(SITE, "dev-b"), topics.command(SITE, "dev-a")

    suback = dev_a.subscribe(other_cmd)
    assert not suback.is_failure and suback.value == 1, suback
    assert not dev_a.subscribe(own_cmd).is_failure

    assert not central.publish(other_cmd, b"open the door of dev-b").is_failure
    assert not central.publish(own_cmd, MARKER).is_failure
    # Both come from one central connection and go to one subscriber, in order: the marker
    # arriving means the first message was either delivered before it or dropped.
    assert dev_a.wait_for(own_cmd, MARKER)
    assert dev_a.on(other_cmd) == []


def test_wildcard_subscription_delivers_only_the_devices_own_topics(
        broker: Broker, mqtt_clients: ConnectProbe) -> None:
    central = _central(broker, mqtt_clients)
    dev_a = _device(broker, mqtt_clients, "dev-a")
    assert not dev_a.subscribe(f"{topics.ROOT}/{SITE}/#").is_failure

    foreign = [topics.command(SITE, "dev-b"), topics.device_auth(SITE, "dev-b"),
               topics.ack(SITE, "dev-b"), topics.events(SITE, "dev-b")]
    for topic in foreign:
        assert not central.publish(topic, b"not for dev-a").is_failure
    assert not central.publish(topics.command(SITE, "dev-a"), MARKER).is_failure

    assert dev_a.wait_for(topics.command(SITE, "dev-a"), MARKER)
    assert [m.topic for m in dev_a.received] == [topics.command(SITE, "dev-a")]


# --- what a device may do ---------------------------------------------------------------------

DEVICE_WRITES = {"events": topics.events(SITE, "dev-a"), "status": topics.status(SITE, "dev-a"),
                 "catchup": topics.catchup(SITE, "dev-a")}


@pytest.mark.parametrize("topic", DEVICE_WRITES.values(), ids=DEVICE_WRITES.keys())
def test_device_publishes_its_own_topics_to_central(broker: Broker, mqtt_clients: ConnectProbe,
                                                    topic: str) -> None:
    central = _central(broker, mqtt_clients)
    assert not central.subscribe(topics.device_wildcard(SITE, topic.rsplit("/", 1)[1])
                                 ).is_failure
    dev_a = _device(broker, mqtt_clients, "dev-a")

    rc = dev_a.publish(topic, b"from dev-a")

    assert not rc.is_failure, rc
    assert central.wait_for(topic, b"from dev-a")


DEVICE_READS = {"site auth changes": topics.auth_changes(SITE),
                "own cmd": topics.command(SITE, "dev-a"),
                "own auth": topics.device_auth(SITE, "dev-a"),
                "own ack": topics.ack(SITE, "dev-a"),
                "own booth list": topics.booth_list(SITE, "dev-a"),
                "site rules": topics.site_rules(SITE)}


@pytest.mark.parametrize("topic", DEVICE_READS.values(), ids=DEVICE_READS.keys())
def test_device_receives_what_central_sends_it(broker: Broker, mqtt_clients: ConnectProbe,
                                              topic: str) -> None:
    central = _central(broker, mqtt_clients)
    dev_a = _device(broker, mqtt_clients, "dev-a")
    assert not dev_a.subscribe(topic).is_failure

    assert not central.publish(topic, b"from central").is_failure

    assert dev_a.wait_for(topic, b"from central")


def test_every_device_reads_the_site_auth_changes(broker: Broker,
                                                 mqtt_clients: ConnectProbe) -> None:
    central = _central(broker, mqtt_clients)
    devices = [_device(broker, mqtt_clients, d) for d in ("dev-a", "dev-b")]
    for device in devices:
        assert not device.subscribe(topics.auth_changes(SITE)).is_failure
    assert not central.publish(topics.auth_changes(SITE), b"list v7").is_failure
    for device in devices:
        assert device.wait_for(topics.auth_changes(SITE), b"list v7")


def test_a_booth_gets_its_retained_list_on_subscribing_and_no_other_booths(
        broker: Broker, mqtt_clients: ConnectProbe) -> None:
    # The desk publishes each booth's list retained: a booth that connects later (or after a
    # restart) gets the newest at once, and only its own.
    central = _central(broker, mqtt_clients)
    own, other = topics.booth_list(SITE, "dev-a"), topics.booth_list(SITE, "dev-b")
    assert not central.publish(own, b"list of dev-a v3", retain=True).is_failure
    assert not central.publish(other, b"list of dev-b v8", retain=True).is_failure

    dev_a = _device(broker, mqtt_clients, "dev-a")
    assert not dev_a.subscribe(own).is_failure
    assert dev_a.wait_for(own, b"list of dev-a v3")
    assert all(m.retain for m in dev_a.received)
    assert not dev_a.subscribe(other).is_failure
    # A retained message is sent at subscribe time, so before a marker published after it.
    assert not central.publish(own, MARKER).is_failure
    assert dev_a.wait_for(own, MARKER)
    assert dev_a.on(own) == [b"list of dev-a v3", MARKER]
    assert dev_a.on(other) == []


# --- central --------------------------------------------------------------------------------


def test_central_reads_and_writes_every_topic_of_the_site(broker: Broker,
                                                          mqtt_clients: ConnectProbe) -> None:
    # One connection per broker user (the client id is the username): central watches its
    # own publications.
    central = watcher = _central(broker, mqtt_clients)
    assert not watcher.subscribe(f"{topics.ROOT}/{SITE}/#").is_failure
    every = [topics.auth_changes(SITE)] + [
        topics.device(SITE, device, leaf) for device in ("dev-a", "dev-b")
        for leaf in ("auth", "ack", "cmd", "booth", "events", "status", "catchup")]

    for topic in every:
        rc = central.publish(topic, b"central")
        assert not rc.is_failure, f"central may not publish to {topic}: {rc}"
    for topic in every:
        assert watcher.wait_for(topic, b"central"), f"central did not receive {topic}"


@pytest.mark.parametrize("username", ["dev-a", CENTRAL_USER])
def test_nobody_writes_outside_the_site(broker: Broker, mqtt_clients: ConnectProbe,
                                        username: str) -> None:
    # One broker per site; a topic of another site has no business on it. (Only the PUBACK
    # can be checked: nobody here may read such a topic either.)
    client = mqtt_clients(broker.port, username, broker.passwords[username])
    for topic in (topics.events("other-site", "dev-a"), topics.command("other-site", "dev-a"),
                  "elsewhere/x"):
        rc = client.publish(topic, b"x")
        assert rc.is_failure and rc.value == NOT_AUTHORIZED, (topic, rc)


# --- who may connect --------------------------------------------------------------------------


@pytest.mark.parametrize(("username", "password"), [
    (None, None),  # anonymous
    ("dev-a", "wrong"),
    ("dev-c", "pw-dev-c"),  # not in the password file
    (CENTRAL_USER, "pw-dev-a"),  # another user's password
], ids=["anonymous", "wrong password", "unknown user", "central with a device password"])
def test_refused_connections(broker: Broker, username: str | None,
                             password: str | None) -> None:
    probe = Probe(broker.port, username, password, client_id=f"refused-{username}")
    try:
        rc = probe.connect()
        assert rc is not None and rc.is_failure, f"{username} was let in: {rc}"
    finally:
        probe.close()
    # The same user with its own password is let in: the refusal was about the credentials.
    if username is not None and username in broker.passwords:
        good = Probe(broker.port, username, broker.passwords[username],
                     client_id=f"refused-{username}")
        try:
            rc = good.connect()
            assert rc is not None and not rc.is_failure, rc
        finally:
            good.close()


# --- retained status --------------------------------------------------------------------------


def test_retained_status_of_a_device_cannot_be_overwritten_by_another(
        broker: Broker, mqtt_clients: ConnectProbe) -> None:
    status_a = topics.status(SITE, "dev-a")
    dev_a = _device(broker, mqtt_clients, "dev-a")
    dev_b = _device(broker, mqtt_clients, "dev-b")
    assert not dev_a.publish(status_a, b"online seq=41", retain=True).is_failure

    rc = dev_b.publish(status_a, b"offline (forged)", retain=True)
    assert rc.is_failure and rc.value == NOT_AUTHORIZED, rc

    # A subscriber arriving later is served the retained message: still dev-a's.
    late = _central(broker, mqtt_clients)
    assert not late.subscribe(status_a).is_failure
    assert late.wait_for(status_a, b"online seq=41")
    assert late.on(status_a) == [b"online seq=41"]
    assert all(m.retain for m in late.received)


def test_device_reads_its_own_retained_status_back(broker: Broker,
                                                   mqtt_clients: ConnectProbe) -> None:
    status_a = topics.status(SITE, "dev-a")
    dev_a = _device(broker, mqtt_clients, "dev-a")
    assert not dev_a.publish(status_a, b"online seq=9", retain=True).is_failure
    dev_a.close()

    again = _device(broker, mqtt_clients, "dev-a")
    assert not again.subscribe(status_a).is_failure
    assert again.wait_for(status_a, b"online seq=9")


def test_a_revoked_devices_retained_status_is_no_longer_served(
        broker: Broker, mqtt_clients: ConnectProbe) -> None:
    # check_retain_source: a retained message is served only while its publisher may still
    # publish there. Revoking dev-a (its user deleted, every topic denied) hides the status it
    # left behind, so the desk does not show a removed gate as "online" for ever.
    status_a = topics.status(SITE, "dev-a")
    dev_a = _device(broker, mqtt_clients, "dev-a")
    assert not dev_a.publish(status_a, b"online", retain=True).is_failure
    before = _central(broker, mqtt_clients)
    assert not before.subscribe(status_a).is_failure
    assert before.wait_for(status_a, b"online")  # served while dev-a is a device of the site

    remove_user(broker.layout.passwd, "dev-a")
    assert write_acl(broker.layout, revoked=["dev-a"])
    assert broker.proc is not None
    broker.proc.send_signal(1)  # SIGHUP: reload the password file and the ACL
    deadline = time.monotonic() + 5
    while not dev_a.closed:  # the reload disconnects a user no longer in the password file
        assert time.monotonic() < deadline, "dev-a is still connected after the reload"
        time.sleep(0.01)

    after = _central(broker, mqtt_clients)
    assert not after.subscribe(status_a).is_failure
    # The marker proves the subscription works; a retained message is sent at subscribe time,
    # before anything published after it.
    _assert_only_marker_arrives(after, after, status_a)
