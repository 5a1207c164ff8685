"""``handgrad playground`` as a command: its address, where it listens, and a taken port."""

import argparse
import subprocess
import sys
import urllib.request

import pytest

from handgrad.cli import playground
from handgrad.errors import OptionError


def parse(*argv):
    parser = argparse.ArgumentParser()
    playground.register(parser.add_subparsers())
    return parser.parse_args(["playground", *argv])


def test_defaults_listen_on_localhost():
    args = parse()
    assert args.host == "127.0.0.1" and args.port == 8765 and not args.no_browser


def test_a_taken_port_is_named():
    taken = playground.open_socket("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(OptionError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            playground.open_socket("127.0.0.1", port)
    finally:
        taken.close()
    with pytest.raises(OptionError, match="invalid --port: 70000"):
        playground.open_socket("127.0.0.1", 70000)


def test_bad_fps_is_named():
    with pytest.raises(OptionError, match="invalid --fps: 0"):
        playground.run(parse("--fps", "0", "--no-browser"))


def test_the_command_prints_its_address_says_where_it_listens_and_serves_the_page():
    code = ("import argparse\nfrom handgrad.cli import playground\n"
            "p = argparse.ArgumentParser(); playground.register(p.add_subparsers())\n"
            "a = p.parse_args(['playground', '--port', '0', '--no-browser']); a.func(a)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert first.startswith("handgrad playground: http://127.0.0.1:")
        assert "this machine only" in second
        url = first.split(": ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"handgrad playground" in response.read()
    finally:
        proc.terminate()
        proc.wait(10)
