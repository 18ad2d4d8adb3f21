"""Extending a finished (or stopped) sweep by more rounds, with hand-made range edits.

``extend(run_dir, rounds=N, ranges={...}, freeze={...}, release=[...])`` and
``sweep continue RUN_DIR --rounds N --set P.low=V --set P.high=V --set P=V --release P``:

- the new rounds continue the run's numbering and seeding (round r samples from
  ``SeedSequence(seed, r)`` as it always would);
- the edits apply to the ranges the run ended with (its final proposal) and are recorded in
  the ranges table as decisions with action ``manual``;
- earlier rows are never touched; the edits are kept in the run's config (``edits``), so a
  later ``sweep resume`` replays them exactly;
- a round the run stopped in the middle of (Ctrl+C, a kill) is first finished as it was
  planned - its committed evaluations belong to its planned configurations and budgets - and
  the edits start with the round after it; ``discard_partial=True`` (``--discard-partial``)
  drops that round's committed evaluations instead, with a warning saying how many, and the
  round is sampled anew with the edits.

Every edit is checked first, like a config; an invalid one changes nothing.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from .edits import Edit, check_edit
from .errors import ConfigError, StoreError, SweepPaused


def extend(
    run_dir: str | os.PathLike,
    *,
    rounds: int,
    ranges: Mapping[str, tuple[Any, Any]] | None = None,
    freeze: Mapping[str, Any] | None = None,
    release: Iterable[str] = (),
    address: str | None = None,
    discard_partial: bool = False,
    **run_kwargs: Any,
) -> Any:
    """Run ``rounds`` more rounds of the run in ``run_dir``, after the given edits.

    A round left half-done is finished as planned first (or, with ``discard_partial``, its
    committed evaluations are dropped and it is sampled anew); see the module docstring.
    """
    from .config import parse_config
    from .result import TuneResult
    from .runner import run_config
    from .store import RunStore

    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ConfigError(f"--rounds must be a whole number >= 1, got {rounds!r}")
    store = RunStore.open(run_dir)
    meta = store.metadata()
    if meta.get("state") == "running":
        raise StoreError(f"{store.run_dir} is still running (or was killed): resume it first "
                         f"with sweep resume {store.run_dir}")
    if meta.get("selection_round") is not None:
        raise ConfigError(f"{store.run_dir} ended with a full-budget selection round; "
                          "it cannot be continued")
    done = TuneResult.load(store.run_dir)
    edit = Edit(done.rounds_run, dict(ranges or {}), dict(freeze or {}), tuple(release))
    check_edit(edit, done.final_space, done.space or done.final_space)
    half_done = store.first_missing_round()
    if store.has_partials(half_done):
        if discard_partial:
            dropped = store.partial_rows(half_done)
            store.clear_partials(half_done)
            warnings.warn(f"round {half_done} was not finished: discarded {dropped} committed "
                          "evaluation(s) of it; the round is sampled anew with the edits",
                          ContinueWarning, stacklevel=2)
        else:
            warnings.warn(f"round {half_done} was not finished: finishing it as planned before "
                          "the edits, which start with the round after it (discard_partial / "
                          "--discard-partial drops its committed evaluations instead)",
                          ContinueWarning, stacklevel=2)
            planned = parse_config(meta["config"], default_name=str(meta.get("name") or "sweep"))
            try:
                run_config(planned, address=address, run_dir=store.run_dir, resume=True,
                           stop_after_round=half_done, evaluate_test_set=False, **run_kwargs)
            except SweepPaused:
                pass
            meta = store.metadata()
            if meta.get("selection_round") is not None:
                raise ConfigError(f"{store.run_dir} finished with a full-budget selection "
                                  "round; it cannot be continued")
            done = TuneResult.load(store.run_dir)
            edit = dataclasses.replace(edit, round=done.rounds_run)
            check_edit(edit, done.final_space, done.space or done.final_space)
    record = dict(meta["config"])
    record["rounds"] = done.rounds_run + rounds
    record["edits"] = [*record.get("edits", []), edit.to_dict()]
    config = parse_config(record, default_name=str(meta.get("name") or "sweep"))
    store.update_metadata(config=record, state="continuing")
    return run_config(config, address=address, run_dir=store.run_dir, resume=True, **run_kwargs)


class ContinueWarning(UserWarning):
    """What ``sweep continue`` did with a round the run had left half-done."""
