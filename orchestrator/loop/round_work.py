"""The work of one round: which evaluations run, and which are added as results arrive.

:class:`RoundWork` is what the executor pulls from (``take``) and reports to (``record``).
Without a budget it is simply the round's configurations. With one, every configuration
starts at the round's lowest rung and the certain best move up (:func:`fidelity.promotable`)
as results come in. Pure: no Ray, no clock.

Every evaluation has a key, ``rung * n + index`` (``n`` configurations in the round), so the
round's rows can be ordered the same way whatever order they finished in.

An objective that continues training (:mod:`workers.state`) returns a state with each
result; the round keeps a configuration's latest state while it may still be promoted and
hands it to the evaluation at the next rung, so the state lives here, on the coordinator,
and survives the loss of the worker (or node) that made it. A state is dropped as soon as
its configuration can no longer be promoted; :attr:`RoundWork.peak_state_bytes` is the most
held at once.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from orchestrator.search.fidelity import Budget, promotable, rung_sizes
from workers.evaluate import STATE_COLUMN, STATUS_OK


def _rows(batch: pa.RecordBatch | pa.Table) -> list[tuple[int, str, float | None]]:
    """A result batch's (work key, status, score) rows, in order."""
    return list(
        zip(
            batch.column("trial_id").to_pylist(),
            batch.column("status").to_pylist(),
            batch.column("score").to_pylist(),
        )
    )


class ReplayMismatch(ValueError):
    """Committed results that do not fit the round's work (another plan made them)."""


@dataclass(frozen=True)
class WorkItem:
    """One evaluation: a configuration (by its index in the round) at a rung's budget."""

    key: int
    index: int
    rung: int
    budget: float | None
    config: dict[str, Any]
    state: bytes | None = None  # what the rung below returned, to continue from


class RoundWork:
    """The evaluations of one round; successive halving when ``budget`` is given."""

    def __init__(
        self,
        configs: Sequence[dict[str, Any]],
        *,
        mode: str,
        budget: Budget | None = None,
        base: float | None = None,
    ) -> None:
        self.n = len(configs)
        self.mode = mode
        self._configs = list(configs)
        self.rungs: list[float | None] = [None]
        if budget is not None:
            assert base is not None, "a budget needs the base rung"
            self.rungs = [*budget.rungs(base)]
        self.quotas = rung_sizes(self.n, budget.eta if budget else 2, len(self.rungs))
        self._expected = list(self.quotas)  # results each rung will get (shrinks on failures)
        self._results: list[list[tuple[int, float | None]]] = [[] for _ in self.rungs]
        self._promoted: list[set[int]] = [set() for _ in self.rungs]
        self.items: dict[int, WorkItem] = {}
        self._recorded: set[int] = set()
        self._ready: deque[WorkItem] = deque()
        self._states: dict[int, tuple[int, bytes]] = {}  # index -> (key that made it, state)
        self._holding: dict[int, int] = {}  # key handed a state -> the key that made it
        self.released: list[int] = []  # keys whose states are no longer needed (to delete)
        self.peak_state_bytes = 0
        for i in range(self.n):
            self._add(i, 0)

    def _add(self, index: int, rung: int) -> None:
        made_by, state = self._states.pop(index, (None, None)) if rung else (None, None)
        item = WorkItem(
            rung * self.n + index, index, rung, self.rungs[rung], self._configs[index], state
        )
        self.items[item.key] = item
        self._ready.append(item)
        if made_by is not None:
            self._holding[item.key] = made_by

    @property
    def continues(self) -> bool:
        """Whether evaluations of this work can go on from a lower rung's state."""
        return len(self.rungs) > 1

    def fingerprint(self) -> str:
        """A hash of what this round evaluates: its configurations and its rungs' budgets.

        Partial commits carry it, so results committed for one plan of the round are never
        attached to the configurations of another (an edit, a changed schedule).
        """
        text = json.dumps([self._configs, self.rungs], sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    # -- the executor's side -------------------------------------------------------------
    def ready_count(self) -> int:
        return len(self._ready)

    def take(self, n: int) -> list[WorkItem]:
        """Up to ``n`` evaluations to send now (lowest rungs first, in key order)."""
        return [self._ready.popleft() for _ in range(min(n, len(self._ready)))]

    @property
    def known(self) -> int:
        """Evaluations known so far (grows as configurations are promoted)."""
        return len(self.items)

    def record(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Take in results (``trial_id`` holds the work key) and the states they returned;
        promote what is now certain."""
        if STATE_COLUMN in batch.schema.names:
            keys = batch.column("trial_id").to_pylist()
            for key, state in zip(keys, batch.column(STATE_COLUMN).to_pylist()):
                self._keep_state(key, state)
        self._take_in(_rows(batch))
        self._free_states()

    def _keep_state(self, key: int, state: bytes | None) -> None:
        item = self.items.get(key)
        if state is not None and item is not None and item.rung < len(self.rungs) - 1:
            self._states[item.index] = (key, state)

    def _may_rise(self, rung: int) -> set[int]:
        """The configurations of ``rung`` that may still be promoted: those the promotion
        rule would pick were no result outstanding (fewer than the quota ahead of them)."""
        return set(
            promotable(
                self._results[rung],
                outstanding=0,
                quota=self.quotas[rung + 1],
                promoted=self._promoted[rung],
                mode=self.mode,
            )
        )

    def held_states(self) -> dict[int, bytes]:
        """The states that may still be continued from, by the key of the evaluation that
        returned them: kept for a promotion, or handed to an evaluation still running."""
        held = dict(self._states.values())
        held.update((made_by, self.items[k].state or b"") for k, made_by in self._holding.items())
        return held

    def take_released(self) -> list[int]:
        """The keys whose states were dropped since the last call."""
        released, self.released = self.released, []
        return released

    def _free_states(self) -> None:
        """Drop what no evaluation can use any more, and note the most held at once: the
        states of configurations not promoted from a complete rung, and those handed to an
        evaluation that has its result."""
        if self._states:
            rising = [self._may_rise(rung) for rung in range(len(self.rungs) - 1)]
            for index, (key, _) in list(self._states.items()):
                if index not in rising[key // self.n]:
                    self.released.append(self._states.pop(index)[0])
        for key in [k for k in self._holding if k in self._recorded]:
            self.released.append(self._holding.pop(key))
            self.items[key] = replace(self.items[key], state=None)
        held = sum(map(len, self.held_states().values()))
        self.peak_state_bytes = max(self.peak_state_bytes, held)

    def _take_in(self, rows: Any) -> None:
        for key, status, score in rows:
            if key in self._recorded:
                raise RuntimeError(f"evaluation {key} got a second result row")
            item = self.items[key]
            self._recorded.add(key)
            self._results[item.rung].append((item.index, score if status == STATUS_OK else None))
        self._promote()

    def replay(
        self, batch: pa.RecordBatch | pa.Table, states: dict[int, bytes] | None = None
    ) -> None:
        """Take in results committed before a restart: those evaluations are not handed out
        again. Batches must come in the order they first arrived (promotions replay too).
        ``states``: the states kept for evaluations (by key), so that a configuration
        promoted again continues.

        One commit can hold a rung's results and the result of a promotion they caused, so
        rows are taken in one at a time; a row whose evaluation does not exist yet waits
        until the promotions before it have been made. A row that no promotion ever
        creates does not belong to this round's work: :class:`ReplayMismatch`.
        """
        waiting = _rows(batch)
        done = {key for key, _, _ in waiting}
        while waiting:
            later = []
            for row in waiting:
                if row[0] in self.items:
                    if states and row[1] == STATUS_OK:
                        self._keep_state(row[0], states.get(row[0]))
                    self._take_in([row])
                else:
                    later.append(row)
            if len(later) == len(waiting):
                raise ReplayMismatch(
                    f"committed results for evaluations {sorted(r[0] for r in later)[:5]} do "
                    "not belong to this round's work"
                )
            waiting = later
        self._ready = deque(item for item in self._ready if item.key not in done)
        self._free_states()

    def _outstanding(self, rung: int) -> int:
        return self._expected[rung] - len(self._results[rung])

    def _promote(self) -> None:
        for rung in range(len(self.rungs) - 1):
            new = promotable(
                self._results[rung],
                outstanding=self._outstanding(rung),
                quota=self.quotas[rung + 1],
                promoted=self._promoted[rung],
                mode=self.mode,
            )
            for index in sorted(new):
                self._promoted[rung].add(index)
                self._add(index, rung + 1)
            if self._outstanding(rung) == 0:  # the rung is complete: its promotions are final
                self._expected[rung + 1] = len(self._promoted[rung])

    def finished(self) -> bool:
        """Every evaluation this round will ever have has a result."""
        return not self._ready and all(self._outstanding(r) == 0 for r in range(len(self.rungs)))
