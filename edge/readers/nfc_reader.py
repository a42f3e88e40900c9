"""The NFC reader adapter: nfcpy polling ISO 14443-A cards.

The same code drives a PN532 on the Pi's UART (``tty:AMA0:pn532``), a USB reader (``usb``)
and, in simulation, nfcpy's ``udp`` driver talking to hardware_sim.tag_emulator.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from typing import Any

import nfc

from edge.readers import SupervisedReader
from edge.uid import uid_from_bytes
from firmware_config.schema import NfcReaderConfig

log = logging.getLogger(__name__)


def _ignore_tag(tag: Any) -> bool:
    # False makes connect() return the activated tag at once instead of waiting for the
    # card to leave the field; the Debouncer turns repeated reads into one tap.
    return False


class NfcReader(SupervisedReader):
    """A ``CardReader`` on an nfcpy contactless frontend.

    Polls only 106 kbps Type A (``targets=['106A']``): it is what access cards are, and
    every other technology costs a timeout per poll (1 s each on the udp driver).

    nfcpy reports a reader that stopped answering by ``connect()`` returning False (it
    catches the IOError itself); that, an open that fails, or any exception ends the
    session and the supervisor reopens the device with backoff.
    """

    def __init__(
        self, config: NfcReaderConfig, *, now: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(
            path=config.path,
            debounce_s=config.debounce,
            retry_initial=config.retry_initial,
            retry_max=config.retry_max,
            now=now,
        )
        self._clf: Any = None

    def _open(self) -> None:
        # The constructor raises IOError(ENODEV) when nothing answers on the path; some
        # transports (USB, serial) raise their own OSError subclasses.
        self._clf = nfc.ContactlessFrontend(self.path)

    def _read(self) -> None:
        clf = self._clf
        rdwr = {
            "targets": ["106A"],
            "on-connect": _ignore_tag,
            # One sense per round, so connect() checks ``terminate`` between polls and
            # stop() is prompt (nfcpy's default is 5 iterations 0.5 s apart).
            "iterations": 1,
            "interval": 0.0,
            "beep-on-connect": False,
        }
        while not self._stopping():
            result = clf.connect(rdwr=rdwr, terminate=self._stopping)
            if result is False:
                raise OSError(errno.ENODEV, "nfcpy lost the reader (connect returned False)")
            if result is None or result is True:
                continue  # terminated (stop() was called)
            identifier = bytes(result.identifier)
            if identifier:
                self._card(uid_from_bytes(identifier))

    def _close(self) -> None:
        clf, self._clf = self._clf, None
        if clf is not None:
            clf.close()


__all__ = ["NfcReader"]
