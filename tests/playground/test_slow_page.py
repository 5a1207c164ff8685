"""A page that never finishes receiving does not hold training back (the server's tasks driven
with a stand-in socket whose send never returns, so no network buffer can hide the effect)."""

import asyncio
import json

from handgrad.playground.server import Connection


class StuckPage:
    """Accepts, sends a set-up and play, then never reads: its first send blocks for good."""

    def __init__(self):
        self.sent = 0
        self.incoming = [json.dumps({"type": "config", "config": {
            "dataset": "xor", "hidden": [4], "points": 60, "optimizer": "adam", "lr": 0.03}}),
            json.dumps({"type": "play"})]
        self.closed = asyncio.Event()

    async def accept(self):
        pass

    async def receive_text(self):
        if self.incoming:
            return self.incoming.pop(0)
        await self.closed.wait()
        raise RuntimeError("closed")

    async def send_text(self, text):
        self.sent += 1
        await asyncio.Event().wait()  # the page never drains its socket


async def drive(epochs: int) -> tuple[int, int, int]:
    page = StuckPage()
    connection = Connection(page, fps=50.0, registry={})
    serving = asyncio.create_task(connection.serve())
    for _ in range(6000):  # up to a minute of waiting on a loaded machine
        if connection.session.epoch >= epochs and connection.frames_made >= 5:
            break
        await asyncio.sleep(0.01)
    page.closed.set()
    await serving
    return connection.session.epoch, connection.frames_made, page.sent


def test_training_and_frames_go_on_while_the_page_does_not_take_them():
    epoch, made, sent = asyncio.run(drive(epochs=30))
    assert sent == 1            # the very first message is stuck in the page's socket ...
    assert epoch >= 30          # ... and training went on
    assert made >= 5            # frames were made and replaced, none queued up behind it
