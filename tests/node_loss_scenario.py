"""A sweep on a three-node Ray cluster on this machine that loses a worker node mid-round.

Run as a program (its own process owns the cluster):
``python -m tests.node_loss_scenario RUN_DIR WORKERS``. A 1-CPU head and two 2-CPU nodes
start (``ray.cluster_utils.Cluster``, at the address Ray picks for this machine); a sweep of
0.4 s trials runs with WORKERS workers; 4 s in, the second worker node is removed as a lost
spot instance would be (no graceful shutdown). Prints one JSON line: how long the sweep took
and what its rows say. The cluster is shut down in every case.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import ray
from ray.cluster_utils import Cluster

from orchestrator import Float, tune

ROUNDS, SAMPLES = 3, 12


def slow_bowl(config: dict[str, float]) -> float:
    time.sleep(0.4)
    return (config["x"] - 0.3) ** 2


def main(run_dir: str, workers: int) -> int:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=2)
        lost = cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        removed: list[float] = []

        def lose_node() -> None:
            cluster.remove_node(lost, allow_graceful=False)
            removed.append(time.monotonic())

        timer = threading.Timer(4.0, lose_node)
        started = time.monotonic()
        timer.start()
        result = tune(
            slow_bowl,
            {"x": Float(0.0, 1.0)},
            mode="min",
            rounds=ROUNDS,
            samples_per_round=SAMPLES,
            workers=workers,
            seed=0,
            run_dir=run_dir,
            narrowing="none",
        )
        timer.join()
        rows = result.table.to_pylist()
        print(
            json.dumps(
                {
                    "seconds": time.monotonic() - started,
                    "removed_at": removed[0] - started if removed else None,
                    "rows": len(rows),
                    "configs": len({r["config_id"] for r in rows}),
                    "statuses": sorted({r["status"] for r in rows}),
                    "errors": sorted({r["error"] for r in rows if r["error"]}),
                }
            ),
            flush=True,
        )
        return 0
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
