"""Telegram's side of a webhook: updates POSTed to the bot as Telegram posts them, and redelivered the way
Telegram redelivers them.

From the Bot API docs (setWebhook, getWebhookInfo):
- each update is an HTTPS POST of a JSON-serialized Update, with the header
  ``X-Telegram-Bot-Api-Secret-Token`` when a ``secret_token`` was set;
- "In case of an unsuccessful request (a request with response HTTP status code different from 2XY), we will
  repeat the request and give up after a reasonable amount of attempts";
- getWebhookInfo reports ``pending_update_count``, ``last_error_date`` and ``last_error_message``.

The https URL given to setWebhook cannot be served on loopback, so deliveries go to ``target`` (the bot's
plain-HTTP webhook URL) instead. The number of attempts before giving up is not documented; it is a field.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class Delivery:
    update_id: Any
    #: the HTTP status the bot answered, or 0 when the connection failed or timed out
    status: int
    at: float


@dataclass
class WebhookDelivery:
    target: str
    secret: str | None = None
    #: attempts of one update before it is dropped ("give up after a reasonable amount of attempts")
    attempts: int = 5
    timeout_s: float = 10.0
    log: list[Delivery] = field(default_factory=list)
    #: updates not yet answered 2xx, oldest first, with the attempts made so far
    pending: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    #: updates given up on after ``attempts`` failures
    dropped: list[dict[str, Any]] = field(default_factory=list)
    last_error_date: int | None = None
    last_error_message: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, update: dict[str, Any]) -> int:
        """POST ``update`` once; anything but 2xx leaves it pending. Returns the status (0: no answer)."""
        return self._attempt(update, previous_attempts=0)

    def redeliver(self) -> list[int]:
        """One more attempt for every pending update, in order; the statuses."""
        with self._lock:
            batch, self.pending = self.pending, []
        return [self._attempt(update, previous_attempts=tries) for update, tries in batch]

    def info(self) -> dict[str, Any]:
        """The delivery part of getWebhookInfo."""
        with self._lock:
            result: dict[str, Any] = {"pending_update_count": len(self.pending)}
            if self.last_error_date is not None:
                result["last_error_date"] = self.last_error_date
                result["last_error_message"] = self.last_error_message
        return result

    def _attempt(self, update: dict[str, Any], previous_attempts: int) -> int:
        headers = {SECRET_HEADER: self.secret} if self.secret else {}
        try:
            response = httpx.post(self.target, json=update, headers=headers, timeout=self.timeout_s)
            status, error = response.status_code, _status_error(response.status_code)
        except httpx.TimeoutException:
            status, error = 0, "Read timeout expired"
        except httpx.HTTPError:
            status, error = 0, "Connection refused"
        with self._lock:
            self.log.append(Delivery(update.get("update_id"), status, time.time()))
            if error is None:
                return status
            self.last_error_date, self.last_error_message = int(time.time()), error
            if previous_attempts + 1 >= self.attempts:
                self.dropped.append(update)
            else:
                self.pending.append((update, previous_attempts + 1))
        return status


def _status_error(status: int) -> str | None:
    """None for 2xx; otherwise the message getWebhookInfo shows, e.g. "Wrong response from the webhook: 503
    Service Unavailable" (the form bot owners quote from getWebhookInfo)."""
    if 200 <= status < 300:
        return None
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"Wrong response from the webhook: {status} {phrase}"
