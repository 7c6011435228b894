"""``[[notify]]`` webhooks: a JSON POST to each configured URL when a job ends (``done``,
``skipped``: its output existed and ``existing_output = "skip"`` kept it, or ``failed``).

The daemon's main loop only queues the message; one background thread sends it, with a
timeout per try and a bounded number of retries (1 s, 2 s, 4 s … apart), so a slow or dead
receiver never holds up a job. What cannot be delivered is logged and dropped.

The body (``Content-Type: application/json``)::

    {"event": "done", "job": "…", "state": "done", "source": "…", "dropped": "…",
     "recipe": "finish", "outputs": ["…"], "report": "…", "error": null,
     "attempts": 1, "finished": 1764600000.0}
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from postbay import __version__
from postbay.config import NotifyConfig

__all__ = ["Webhooks", "job_message"]

log = logging.getLogger("postbay.daemon")
#: Messages waiting beyond this are dropped (oldest kept): a dead receiver must not grow memory.
QUEUE_LIMIT = 1000


def job_message(job: Any) -> dict[str, Any]:
    """The body for a finished or failed :class:`~.ledger.Job`."""
    return {"event": job.state, "job": job.id, "state": job.state, "source": job.source, "dropped": job.dropped,
            "recipe": job.recipe, "outputs": list(job.outputs), "report": job.report, "error": job.error,
            "attempts": job.attempts, "finished": job.finished}


class Webhooks:
    """Sends job endings to the ``[[notify]]`` URLs from a background thread."""

    def __init__(self, hooks: Sequence[NotifyConfig], *, first_backoff: float = 1.0):
        self.hooks = list(hooks)
        self.first_backoff = first_backoff
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def job_ended(self, job: Any) -> None:
        """Queue the message for ``job`` (never waits)."""
        if not any(job.state in h.events for h in self.hooks):
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="postbay-webhooks", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(job_message(job))
        except queue.Full:
            log.warning("notify: %d messages waiting; the one for job %s is dropped", QUEUE_LIMIT, job.id)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued for up to ``timeout`` seconds, then stop."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._stopping.set()  # past the timeout: retries give up
        self._thread.join(1.0)
        self._thread = None

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            for hook in self.hooks:
                if message["event"] in hook.events:
                    self._deliver(hook, message)

    def _deliver(self, hook: NotifyConfig, message: dict[str, Any]) -> bool:
        body = json.dumps(message).encode()
        request = urllib.request.Request(hook.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"postbay/{__version__}"})
        wait = self.first_backoff
        problem = ""
        for attempt in range(hook.retries + 1):
            if attempt:
                if self._stopping.wait(wait):
                    break
                wait *= 2
            try:
                with urllib.request.urlopen(request, timeout=hook.timeout) as response:
                    if 200 <= response.status < 300:
                        return True
                    problem = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                problem = str(getattr(exc, "reason", exc))
        log.warning("notify: %s did not take the message for job %s (%s) after %d tr%s", hook.url,
                    message["job"], problem, attempt + 1, "y" if attempt == 0 else "ies")
        return False
