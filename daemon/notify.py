"""The systemd notify protocol, spoken directly (one datagram per message, no dependency).

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the service started,
shows ``STATUS=`` in ``systemctl status``, restarts the service when ``WATCHDOG=1`` stops
arriving within ``WatchdogSec``, and knows a stop is orderly from ``STOPPING=1``. Outside
systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import os
import socket

__all__ = ["SystemdNotifier"]


class SystemdNotifier:
    """Sends ``KEY=value`` lines to ``$NOTIFY_SOCKET`` (an AF_UNIX datagram socket; a leading
    ``@`` means the abstract namespace)."""

    def __init__(self, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        if address and address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address
        self.watchdog_interval: float | None = None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if usec and usec.isdigit() and (not pid or pid == str(os.getpid())):
            # systemd's advice: ping at half the watchdog period
            self.watchdog_interval = int(usec) / 2e6
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str | int) -> bool:
        """Send ``READY=1`` etc. as keyword arguments (``ready=1, status="…"``); True when sent."""
        if self.address is None:
            return False
        message = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # never wait: a notify socket nobody reads (a stuck manager) must not stop the main loop
            self._sock.sendto(message, socket.MSG_DONTWAIT, self.address)
            return True
        except OSError:
            return False  # systemd going away must not take the daemon with it

    def ready(self, status: str) -> bool:
        return self.send(ready=1, status=status, mainpid=os.getpid())

    def status(self, status: str) -> bool:
        return self.send(status=status)

    def watchdog(self) -> bool:
        return self.send(watchdog=1)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(stopping=1, status=status)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
