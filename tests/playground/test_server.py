"""The playground server over a real socket: the session protocol, bad input, throttling, and a
closed tab stopping its training."""

import json
import time
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from handgrad.optim import OPTIMIZERS

XOR = {"dataset": "xor", "hidden": [4], "activation": "tanh", "optimizer": "adam", "lr": 0.03}


def receive(ws, kind: str, seconds: float = 20.0) -> dict:
    """The next message of type ``kind`` (others are skipped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind!r} message within {seconds} s")


def command(ws, kind: str, **fields) -> None:
    ws.send(json.dumps({"type": kind, **fields}))


def test_hello_lists_every_optimizer_and_sends_data_then_frames(server):
    with connect(server.ws_url) as ws:
        hello = receive(ws, "hello")
        assert set(hello["catalogue"]["optimizers"]) == set(OPTIMIZERS)
        data = receive(ws, "data")
        assert len(data["x_train"]) + len(data["x_test"]) == hello["catalogue"]["defaults"]["points"]
        frame = receive(ws, "frame")
        assert frame["epoch"] == 0 and frame["sizes"] == [2, 4, 1]


def test_play_trains_and_pause_stops(server):
    with connect(server.ws_url) as ws:
        command(ws, "config", config=XOR)
        command(ws, "play")
        while receive(ws, "frame")["epoch"] < 20:
            pass
        command(ws, "pause")
        frame = receive(ws, "frame")
        while frame["playing"]:
            frame = receive(ws, "frame")
        command(ws, "step")
        after = receive(ws, "frame")
        assert after["epoch"] == frame["epoch"] + 1 and not after["playing"]


def test_the_page_page_starts_at_the_root_and_serves_its_files(server):
    for path in ("", "static/app.js", "static/style.css", "static/vendor/uPlot.iife.min.js",
                 "static/vendor/uPlot.LICENSE"):
        with urllib.request.urlopen(server.url + path, timeout=5) as response:
            assert response.status == 200 and response.read()


def test_bad_input_gets_a_clear_message_and_the_session_goes_on(server):
    cases = [
        ('{"type": "config", "config": {"lr": -1}}', "invalid lr: -1"),
        ('{"type": "config", "config": {"hidden": [10000]}}',
         "invalid width of hidden layer 1: 10000"),
        ("{not json", "malformed message: not JSON"),
        ('{"type": "launch"}', "unknown type 'launch'"),
        ('[1, 2]', "malformed message"),
        ('{"type": "config", "config": {"optimizer": "adam", "options": {"beta1": 2}}}',
         "beta1"),
        ('{"type": "config", "config": {"dataset": "xor", "head": "identity_mse"}}',
         "invalid head: 'identity_mse'"),
        ('{"type": "race", "function": "nowhere"}', "nowhere"),
    ]
    with connect(server.ws_url) as ws:
        receive(ws, "hello")
        command(ws, "config", config=XOR)
        receive(ws, "frame")
        for text, expected in cases:
            ws.send(text)
            message = receive(ws, "error")
            assert expected in message["message"], (text, message)
        ws.send(b"\x00\x01")
        assert "binary" in receive(ws, "error")["message"]
        # the session kept its valid set-up and still trains
        command(ws, "step")
        frame = receive(ws, "frame")
        while frame["epoch"] < 1:
            frame = receive(ws, "frame")
        assert frame["sizes"] == [2, 4, 1] and frame["lr"] == 0.03
    assert server.status()["sessions"] == [] or all(s["id"] for s in server.status()["sessions"])


def test_divergence_pauses_with_a_message(server):
    with connect(server.ws_url) as ws:
        command(ws, "config", config={**XOR, "dataset": "regression", "head": "identity_mse",
                                      "optimizer": "sgd", "lr": 50.0, "hidden": [16, 16],
                                      "activation": "relu"})
        command(ws, "play")
        message = receive(ws, "error")
        assert "diverged" in message["message"] and "lower it" in message["message"]


def test_frames_are_throttled_while_training_runs_at_its_own_pace(slow_server):
    with connect(slow_server.ws_url) as ws:
        receive(ws, "hello")
        command(ws, "config", config={**XOR, "points": 40})
        command(ws, "play")
        first = receive(ws, "frame")
        start, frames, last = time.monotonic(), 0, first
        while time.monotonic() - start < 2.0:
            last = receive(ws, "frame")
            frames += 1
        elapsed = time.monotonic() - start
        # at most 4 frames per second were made (plus the one in flight), however fast it trains
        assert frames <= 4 * elapsed + 2
        assert last["epoch"] - first["epoch"] > frames


def test_a_page_that_does_not_read_does_not_hold_training_back(server):
    with connect(server.ws_url) as ws:
        hello = receive(ws, "hello")
        command(ws, "config", config=XOR)
        command(ws, "play")
        mine = lambda status: [s for s in status["sessions"] if s["id"] == hello["session"]]
        before = server.wait_for(lambda st: mine(st) and mine(st)[0]["epoch"] > 0, "training")
        # no recv() from here on: frames pile up unread, epochs keep coming
        epoch = mine(before)[0]["epoch"]
        server.wait_for(lambda st: mine(st)[0]["epoch"] > epoch + 20, "20 more epochs")


def test_each_tab_has_its_own_session_and_a_closed_tab_stops_training(server):
    with connect(server.ws_url) as a, connect(server.ws_url) as b:
        id_a, id_b = receive(a, "hello")["session"], receive(b, "hello")["session"]
        assert id_a != id_b
        command(a, "config", config=XOR)
        command(a, "play")
        playing = lambda st: {s["id"]: s["playing"] for s in st["sessions"]}
        status = server.wait_for(lambda st: playing(st).get(id_a), "the first tab to play")
        assert playing(status)[id_b] is False
        a.close()
        server.wait_for(lambda st: id_a not in {s["id"] for s in st["sessions"]},
                        "the closed tab's session to end")
        assert id_b in {s["id"] for s in server.status()["sessions"]}
    server.wait_for(lambda st: id_b not in {s["id"] for s in st["sessions"]}, "the second tab")


def test_teaching_views_answer(server):
    with connect(server.ws_url) as ws:
        command(ws, "config", config=XOR)
        command(ws, "step")
        command(ws, "explain")
        explain = receive(ws, "explain")
        assert "z_1 = W_1 y_0 + b_1" in explain["text"] and "agree" in explain["verdict"]
        command(ws, "curvature")
        curvature = receive(ws, "curvature")
        assert curvature["eta_opt"] == 1.0 / curvature["lambda_max"]
        command(ws, "race", function="quadratic", optimizers=["gd", "adam", "newton"])
        race = receive(ws, "race")
        assert [r["optimizer"] for r in race["racers"]] == ["gd", "adam", "newton"]


def test_a_foreign_origin_is_refused(server):
    with pytest.raises(InvalidStatus) as err:
        connect(server.ws_url, origin="http://evil.example")
    assert err.value.response.status_code == 403


def test_a_method_that_refuses_the_set_up_at_its_first_step_stops_with_its_reason(server):
    with connect(server.ws_url) as ws:
        command(ws, "config", config={**XOR, "optimizer": "lm"})
        command(ws, "play")
        message = receive(ws, "error")
        assert "training stopped" in message["message"] and "squared-error" in message["message"]
        frame = receive(ws, "frame")
        while frame["playing"]:
            frame = receive(ws, "frame")
        command(ws, "config", config={**XOR, "optimizer": "lm", "head": "tanh_mse"})
        command(ws, "step")
        while receive(ws, "frame")["epoch"] < 1:
            pass
