"""Turn SIGTERM/SIGINT into a clean stop of consumers (Kubernetes sends SIGTERM before killing)."""

import asyncio
import signal
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_stop_signals(
    *stops: Callable[[], None], loop: asyncio.AbstractEventLoop | None = None
) -> Callable[[], None]:
    """Call every `stops` callback on SIGTERM or SIGINT; returns a function that uninstalls."""
    target = loop or asyncio.get_running_loop()

    def stop_all() -> None:
        for stop in stops:
            stop()

    for sig in STOP_SIGNALS:
        target.add_signal_handler(sig, stop_all)

    def uninstall() -> None:
        for sig in STOP_SIGNALS:
            target.remove_signal_handler(sig)

    return uninstall
