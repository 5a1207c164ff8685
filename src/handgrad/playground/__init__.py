"""``handgrad playground``: a local web page where a small network learns a 2-D data set live.

Training runs in handgrad in the server process (``session.py``); the page (``static/``) only draws
the frames it receives over a WebSocket (``server.py``). See docs/playground.md.
"""
