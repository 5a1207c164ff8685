"""Where a sweep's results go: one row per finished trial, written the moment it finishes.

Two embedded formats, chosen by the file's suffix:

    results.jsonl            JSON lines: one object per line, appended and fsync'ed
    results.sqlite / .db     SQLite: one table ``trials`` (key, status, row as JSON), one commit
                             per trial

A row is a JSON object (settings, seed, per-epoch history, test metrics, time, worker); its
``key`` names the trial (with successive halving: the trial at one epoch budget). Reading a store
back gives the finished keys, so an interrupted sweep resumes with them skipped. A line torn by a
crash in the middle of a write (JSON lines only) is ignored on reading and the trial reruns.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from handgrad.errors import OptionError

SUFFIXES = {".jsonl": "jsonl", ".sqlite": "sqlite", ".db": "sqlite"}


def open_store(path) -> "JsonLinesStore | SqliteStore":
    path = Path(path)
    kind = SUFFIXES.get(path.suffix)
    if kind is None:
        raise OptionError(f"invalid store: {path} (expected a file name ending in "
                          f"{', '.join(SUFFIXES)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    return JsonLinesStore(path) if kind == "jsonl" else SqliteStore(path)


class JsonLinesStore:
    def __init__(self, path: Path):
        self.path = path

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write: that trial simply reruns
        return rows

    def add(self, row: dict) -> None:
        text = json.dumps(row, sort_keys=True) + "\n"
        with open(self.path, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        pass  # every add opens and closes the file


class SqliteStore:
    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS trials "
                        "(key TEXT PRIMARY KEY, status TEXT, row TEXT)")
        self.db.commit()

    def rows(self) -> list[dict]:
        return [json.loads(r) for (r,) in self.db.execute("SELECT row FROM trials ORDER BY rowid")]

    def add(self, row: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO trials VALUES (?, ?, ?)",
                        (row["key"], row["status"], json.dumps(row, sort_keys=True)))
        self.db.commit()

    def close(self) -> None:
        self.db.close()
