"""In-process publish/subscribe of things that happened, sent only after their commit.

Rooms publish frozen dataclass events; edges and jobs subscribe by event type. A slow
subscriber never blocks the publisher: each subscription has its own bounded queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

__all__ = ["Event", "EventBus", "Subscription"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of every event; subclasses are frozen dataclasses named for what happened."""


class Subscription:
    """A queue of events of the subscribed types; iterate it, close it when done."""

    def __init__(self, bus: EventBus, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._bus = bus
        self.types = types
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # The subscriber fell behind; it is told (overflowed) and must resynchronise
            # from durable state, which every event here has behind it.
            self.overflowed = True
            log.warning("event subscriber overflowed", extra={"types": self._names()})

    def _names(self) -> str:
        return ",".join(t.__name__ for t in self.types)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, *types: type[Event], maxsize: int = 10_000) -> Subscription:
        subscription = Subscription(self, types or (Event,), maxsize)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if isinstance(event, subscription.types):
                subscription.offer(event)
