"""``menwei-sync keygen``, ``broker-config``, ``provision`` and ``revoke``: the command line of
sync/broker/provision.py, with the installer's messages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sync.broker.central_broker import render_central_acl, render_emqx_acl
from sync.broker.config import DEFAULT_MAX_CONNECTIONS, CentralBridge, bridge_user
from sync.broker.provision import (
    CENTRAL_PASSWORD_FILE,
    RELOAD_HINT,
    SITE_FILE,
    ProvisionError,
    configure_broker,
    load_site,
    provision_device,
    revoke_device,
)
from sync.wire import signing
from sync.wire.topics import CENTRAL_USER


def _cmd_keygen(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists():
        raise ProvisionError(f"{out} exists; refusing to replace the signing key (every "
                             "device pins its public key)")
    public = signing.generate_key(out)
    pub_file = out.with_name(out.name + ".pub")
    pub_file.write_text(public + "\n")
    pub_file.chmod(0o644)
    print(f"signing key: {out} (keep it on the central server only)", file=sys.stderr)
    print(f"public key:  {pub_file}", file=sys.stderr)
    print(public)
    return 0


def _bridge(args: argparse.Namespace) -> CentralBridge | None:
    """The --bridge-* options, checked together; None when none is given."""
    given = [name for name in ("bridge_port", "bridge_username", "bridge_password_file",
                               "bridge_ca", "bridge_cert", "bridge_key")
             if getattr(args, name) is not None] + (["bridge_plain"] if args.bridge_plain
                                                     else [])
    if args.bridge_host is None:
        if given:
            raise ProvisionError(f"--{given[0].replace('_', '-')} needs --bridge-host (the "
                                 "central broker)")
        return None
    if args.no_bridge:
        raise ProvisionError("--bridge-host and --no-bridge contradict each other")
    if args.bridge_password_file is None:
        raise ProvisionError("--bridge-host needs --bridge-password-file (the site's password "
                             "on the central broker; never on the command line)")
    if args.bridge_ca is None and not args.bridge_plain:
        raise ProvisionError("--bridge-host needs --bridge-ca (the CA of the central broker's "
                             "certificate); --bridge-plain only where the link is private "
                             "already (a VPN)")
    if args.bridge_ca is not None and args.bridge_plain:
        raise ProvisionError("--bridge-plain and --bridge-ca contradict each other")
    default_port = 1883 if args.bridge_plain else 8883
    return CentralBridge(args.bridge_host, args.bridge_port or default_port,
                         args.bridge_username or bridge_user(args.site),
                         args.bridge_password_file, args.bridge_ca, args.bridge_cert,
                         args.bridge_key)


def _cmd_broker_config(args: argparse.Namespace) -> int:
    bridge = _bridge(args)
    site_file = args.dir / SITE_FILE
    had_tls = site_file.exists() and load_site(args.dir.resolve()).layout.tls_port is not None
    if had_tls and args.tls_port is None:
        # Re-running to change one setting and forgetting the TLS options would silently turn
        # TLS off and lock every TLS device out.
        print("warning: this folder had a TLS listener; without --tls-port it has none now",
              file=sys.stderr)
    broker = configure_broker(
        args.site, args.dir, port=args.port, bind=args.bind, data_dir=args.data_dir,
        run_as=args.user, tls_port=args.tls_port, tls_ca=args.ca, tls_cert=args.cert,
        tls_key=args.key, tls_bind=args.tls_bind, require_client_cert=args.require_client_cert,
        max_connections=args.max_connections, bridge=bridge, drop_bridge=args.no_bridge)
    layout = broker.layout
    print(f"site {layout.site}: wrote {layout.conf}, {layout.acl}, {layout.passwd}")
    print(f"central user {CENTRAL_USER}: password in {layout.conf_dir / CENTRAL_PASSWORD_FILE}")
    listeners = f"{layout.bind}:{layout.port}"
    if layout.tls_port is not None:
        listeners += f", TLS {layout.tls_bind}:{layout.tls_port}"
    print(f"listeners: {listeners}, {layout.max_connections} connections each; "
          f"persistence in {layout.data_dir}")
    if layout.bridge is not None:
        link = layout.bridge
        print(f"bridge to {link.host}:{link.port} as {link.username} "
              f"({'TLS' if link.tls_ca else 'plain, no TLS'}), topics menwei/{layout.site}/# "
              "both ways; give the central broker this user and its ACL: menwei-sync "
              "central-broker-acl")
    print("start or restart the broker: systemctl restart mosquitto")
    return 0


def _cmd_central_broker_acl(args: argparse.Namespace) -> int:
    render = render_emqx_acl if args.format == "emqx" else render_central_acl
    try:
        text = render(args.site, args.desk_user)
    except ValueError as exc:
        raise ProvisionError(str(exc)) from None
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}; the broker reads it on reload", file=sys.stderr)
    return 0


def _cmd_provision(args: argparse.Namespace) -> int:
    result = provision_device(args.broker_dir, args.site, args.device, args.public_key,
                              broker_host=args.broker_host, out=args.out,
                              tls_cert=args.tls_cert, tls_key=args.tls_key)
    if args.out is None:
        print(result.fragment, end="")
    else:
        print(f"wrote {args.out}", file=sys.stderr)
    for path in result.files:
        print(f"wrote {path}", file=sys.stderr)
    print(f"passwd and ACL updated; {RELOAD_HINT}", file=sys.stderr)
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    revoke_device(args.broker_dir, args.device)
    print(f"{args.device}: broker user deleted, every topic denied; {RELOAD_HINT} (which "
          "also disconnects it)", file=sys.stderr)
    return 0


Handler = Callable[[argparse.Namespace], int]


def _guarded(handler: Handler) -> Handler:
    """Run ``handler``; a refused request prints its reason and exits 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ProvisionError as exc:
            print(f"menwei-sync {args.command}: {exc}", file=sys.stderr)
            return 2

    return run


def add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the provisioning subcommands on ``menwei-sync``'s parser."""
    p = sub.add_parser("keygen", help="create the central Ed25519 signing key; print its "
                                      "public key")
    p.add_argument("--out", type=Path, required=True,
                   help="the private key file to create (mode 0600); the public key is also "
                        "written to OUT.pub")
    p.set_defaults(func=_guarded(_cmd_keygen))

    p = sub.add_parser("broker-config", help="write a site broker's mosquitto.conf, ACL and "
                                             "central user")
    p.add_argument("--site", required=True, help="the site id (site.id of its devices)")
    p.add_argument("--dir", type=Path, required=True,
                   help="the broker folder, e.g. /etc/mosquitto/menwei")
    p.add_argument("--port", type=int, default=1883, help="plain MQTT port (default 1883)")
    p.add_argument("--bind", default="127.0.0.1",
                   help="address of the plain listener (default 127.0.0.1: local clients "
                        "only; 0.0.0.0 for devices on a network without TLS)")
    p.add_argument("--data-dir", type=Path, default=Path("/var/lib/mosquitto"),
                   help="persistence folder, writable by the broker's user "
                        "(default /var/lib/mosquitto)")
    p.add_argument("--user", help="the user Mosquitto drops to when started as root "
                                  "(default: its own default, 'mosquitto')")
    p.add_argument("--tls-port", type=int, help="add a TLS listener on this port (8883)")
    p.add_argument("--tls-bind", default="0.0.0.0",
                   help="address of the TLS listener (default 0.0.0.0)")
    p.add_argument("--ca", type=Path, help="the site CA certificate (make-site-ca.sh's ca.crt)")
    p.add_argument("--cert", type=Path, help="the broker's certificate (server.crt)")
    p.add_argument("--key", type=Path, help="the broker's private key (server.key)")
    p.add_argument("--require-client-cert", action="store_true",
                   help="TLS clients must also present a certificate signed by the CA")
    p.add_argument("--max-connections", type=int,
                   help="connections each listener accepts: devices x 2 + 16 (default "
                        f"{DEFAULT_MAX_CONNECTIONS}, for up to "
                        f"{(DEFAULT_MAX_CONNECTIONS - 16) // 2} devices; a re-run keeps the "
                        "earlier value)")
    bridge = p.add_argument_group(
        "bridge to the company's central broker (docs/company-brokers.md)")
    bridge.add_argument("--bridge-host", help="the central broker's name (as in its TLS "
                                              "certificate) or address")
    bridge.add_argument("--bridge-port", type=int,
                        help="its port for the sites (default 8883; 1883 with --bridge-plain)")
    bridge.add_argument("--bridge-username",
                        help="this site's user there (default menwei-bridge-SITE)")
    bridge.add_argument("--bridge-password-file", type=Path,
                        help="a file holding this site's password there, one line")
    bridge.add_argument("--bridge-ca", type=Path,
                        help="the CA that signed the central broker's certificate")
    bridge.add_argument("--bridge-cert", type=Path,
                        help="this site's client certificate, where the central broker "
                             "requires one")
    bridge.add_argument("--bridge-key", type=Path, help="its private key")
    bridge.add_argument("--bridge-plain", action="store_true",
                        help="no TLS on the link: only where it is private already (a VPN)")
    bridge.add_argument("--no-bridge", action="store_true",
                        help="remove the bridge an earlier run configured (a re-run without "
                             "--bridge-* keeps it)")
    p.set_defaults(func=_guarded(_cmd_broker_config))

    p = sub.add_parser("central-broker-acl",
                       help="print the central broker's ACL for the desk and each site's "
                            "bridge")
    p.add_argument("--site", action="append", required=True,
                   help="a site id; repeat for every site bridged to the central broker")
    p.add_argument("--desk-user", default=CENTRAL_USER,
                   help=f"the desk service's user on the central broker (default "
                        f"{CENTRAL_USER})")
    p.add_argument("--format", choices=("mosquitto", "emqx"), default="mosquitto",
                   help="Mosquitto's acl_file (default) or EMQX's acl.conf")
    p.add_argument("--out", type=Path, help="write it to this file instead of printing it")
    p.set_defaults(func=_guarded(_cmd_central_broker_acl))

    p = sub.add_parser("provision", help="create a device's broker credentials and print its "
                                         "[sync] table")
    p.add_argument("--site", required=True, help="the site id")
    p.add_argument("--device", required=True, help="the device id (device.id in its config)")
    p.add_argument("--broker-dir", type=Path, required=True,
                   help="the broker folder written by broker-config")
    p.add_argument("--public-key", required=True,
                   help="the central public key: the text keygen printed, or its .pub file")
    p.add_argument("--broker-host",
                   help="the broker's name or address as the device reaches it (default: "
                        "this machine's name); with TLS, one of the certificate's names")
    p.add_argument("--out", type=Path,
                   help="write the fragment to this file instead of printing it; the device's "
                        "password file (and TLS files) are written next to it, else into the "
                        "current folder")
    p.add_argument("--tls-cert", type=Path,
                   help="the device's client certificate (make-site-ca.sh devices/<id>.crt)")
    p.add_argument("--tls-key", type=Path, help="its private key (devices/<id>.key)")
    p.set_defaults(func=_guarded(_cmd_provision))

    p = sub.add_parser("revoke", help="shut a device out of the broker")
    p.add_argument("--device", required=True, help="the device id")
    p.add_argument("--broker-dir", type=Path, required=True,
                   help="the broker folder written by broker-config")
    p.set_defaults(func=_guarded(_cmd_revoke))

