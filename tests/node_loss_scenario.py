"""A sweep on a Ray cluster on this machine that loses a worker node, or gains one, mid-round.

Run as a program (its own process owns the cluster):
``python -m tests.node_loss_scenario RUN_DIR WORKERS [lose|join]``.

- ``lose`` (the default): a 1-CPU head and two 2-CPU nodes start
  (``ray.cluster_utils.Cluster``, at the address Ray picks for this machine); a sweep of
  0.4 s trials runs with WORKERS workers; 4 s in, the second worker node is removed as a
  lost spot instance would be (no graceful shutdown).
- ``join``: a 1-CPU head and one 2-CPU node start; the sweep runs with one worker per CPU
  (WORKERS 0: as many as the cluster has room for); 4 s in, another 2-CPU node joins.

Prints one JSON line: how long the sweep took, when the node left or joined, and what the
rows say (which workers ran trials, and when the first trial after the change ended). The
cluster is shut down in every case.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import ray
from ray.cluster_utils import Cluster

from orchestrator import Float, tune

ROUNDS, SAMPLES = 3, 12


def slow_bowl(config: dict[str, float]) -> float:
    time.sleep(0.4)
    return (config["x"] - 0.3) ** 2


def main(run_dir: str, workers: int, change: str = "lose") -> int:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=2)
        lost = cluster.add_node(num_cpus=2) if change == "lose" else None
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        outcome: list[Any] = []

        def sweep() -> None:
            try:
                outcome.append(
                    tune(
                        slow_bowl,
                        {"x": Float(0.0, 1.0)},
                        mode="min",
                        rounds=ROUNDS if lost is not None else 4 * ROUNDS,
                        samples_per_round=SAMPLES,
                        workers=workers or None,
                        seed=0,
                        run_dir=run_dir,
                        narrowing="none",
                    )
                )
            except BaseException as exc:
                outcome.append(exc)

        started = time.time()
        thread = threading.Thread(target=sweep)  # nodes are added on the main thread only
        thread.start()
        thread.join(timeout=4.0)
        at = None
        if thread.is_alive():
            if lost is not None:
                cluster.remove_node(lost, allow_graceful=False)
            else:
                cluster.add_node(num_cpus=2)
            at = time.time()
        thread.join()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        result = outcome[0]
        rows = result.table.to_pylist()
        ends = sorted(r["started_at"].timestamp() + r["duration_s"] for r in rows)
        print(
            json.dumps(
                {
                    "seconds": time.time() - started,
                    "changed_at": at - started if at else None,
                    "next_end_after_change": next((e - at for e in ends if at and e > at), None),
                    "rows": len(rows),
                    "configs": len({r["config_id"] for r in rows}),
                    "statuses": sorted({r["status"] for r in rows}),
                    "errors": sorted({r["error"] for r in rows if r["error"]}),
                    "workers": sorted({r["worker"] for r in rows}),
                    "workers_after_change": sorted(
                        {r["worker"] for r in rows if at and r["started_at"].timestamp() > at}
                    ),
                }
            ),
            flush=True,
        )
        return 0
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4]))
