"""Operation journal: a multi-file operation is written down before its first step and removed after its last.

Why: a process killed between two file moves must never leave a model separated from its sidecar. The journal
(``<data_dir>/journal/<op_id>.json``, atomic) lists every ``(src, dst)`` step and the direction the operation is
going; on the next start ``replay`` finishes a forward operation or completes a rollback, step by step, and
never overwrites a file: when both ends of a step exist with different bytes, both are kept and reported.
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .artifacts import Move
from .atomic import atomic_write_json
from . import fileops

logger = logging.getLogger(__name__)

FORWARD = "forward"
ROLLBACK = "rollback"


@dataclass
class Operation:
    """One journaled operation: its steps, direction and whatever its owner needs to finish it (``data``)."""

    kind: str
    steps: list[Move]
    data: dict[str, Any] = field(default_factory=dict)
    op_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = FORWARD
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"op_id": self.op_id, "kind": self.kind, "state": self.state, "created_at": self.created_at,
                "steps": [[m.src, m.dst] for m in self.steps], "data": self.data}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Operation":
        steps = [Move(str(s), str(d)) for s, d in raw.get("steps", [])]
        return cls(kind=str(raw["kind"]), steps=steps, data=dict(raw.get("data") or {}), op_id=str(raw["op_id"]),
                   state=str(raw.get("state", FORWARD)), created_at=float(raw.get("created_at", 0.0)))


@dataclass
class ReplayOutcome:
    operation: Operation
    direction: str
    kept_both: list[str] = field(default_factory=list)  # steps whose two ends differ: nothing was removed
    missing: list[str] = field(default_factory=list)  # steps whose file is at neither end


class Journal:
    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def path_of(self, op: Operation) -> Path:
        return self.folder / f"{op.op_id}.json"

    def write(self, op: Operation) -> None:
        """Persist ``op`` (before its first step, and again when its direction changes)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path_of(op), op.to_dict())

    def done(self, op: Operation) -> None:
        try:
            self.path_of(op).unlink()
        except FileNotFoundError:
            pass

    def refuse(self, op: Operation) -> None:
        """Keep a journal that must not be replayed as ``<op>.refused`` (for a human), out of ``pending``."""
        try:
            self.path_of(op).rename(self.path_of(op).with_suffix(".refused"))
        except OSError as exc:
            logger.warning("Could not set the refused journal %s aside: %s", op.op_id, exc)

    def pending(self) -> list[Operation]:
        """Leftover operations, oldest first; unreadable journal files are set aside, never deleted."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                found.append(Operation.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.error("Unreadable operation journal %s (%s); set aside", path, exc)
                try:
                    path.rename(path.with_suffix(".unreadable"))
                except OSError:
                    pass
        return sorted(found, key=lambda op: op.created_at)

    def run(self, op: Operation, step: Callable[[str, str], None] | None = None) -> None:
        """Journal ``op``, then do its steps; an ``OSError`` in a step rolls the done steps back and re-raises.

        Anything else (the process dying) leaves the journal for ``replay``.
        """
        mover = step or (lambda src, dst: fileops.move_file(src, dst))
        self.write(op)
        done: list[Move] = []
        try:
            for move in op.steps:
                mover(move.src, move.dst)
                done.append(move)
        except OSError:
            op.state = ROLLBACK
            try:
                self.write(op)
            except OSError:
                logger.warning("Could not mark %s as rolling back; rolling back anyway", op.op_id)
            try:
                for move in reversed(done):
                    fileops.move_file(move.dst, move.src)
            except OSError:
                logger.exception("Rolling back %s failed; the journal stays for the next start", op.op_id)
            else:
                self.done(op)
            raise
        self.done(op)

    def replay(self, op: Operation) -> ReplayOutcome:
        """Bring ``op`` to an end in its journaled direction; idempotent, so a crash during replay is fine."""
        outcome = ReplayOutcome(op, op.state)
        steps: Iterable[Move] = op.steps if op.state == FORWARD else [Move(m.dst, m.src) for m in reversed(op.steps)]
        for move in steps:
            folder = os.path.dirname(move.dst)
            fileops.remove_partials(folder)
            src_there, dst_there = os.path.lexists(move.src), os.path.lexists(move.dst)
            if src_there and not dst_there:
                fileops.move_file(move.src, move.dst)
            elif src_there and dst_there:
                if fileops.same_content(move.src, move.dst):
                    os.unlink(move.src)  # a verified copy finished; only the source's delete was missing
                else:
                    outcome.kept_both.append(move.src)
                    logger.error("Journal %s: both %s and %s exist with different bytes; both kept",
                                 op.op_id, move.src, move.dst)
            elif not dst_there:
                outcome.missing.append(move.src)
        return outcome
