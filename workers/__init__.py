"""Worker side of sweep: the Ray actor and the pure evaluation code it runs.

``workers.evaluate`` has no Ray dependency; ``workers.actor`` holds the actor class that the
coordinator's execution layer wraps with ``ray.remote``. ``workers.examples`` has the example
objectives the configs in ``configs/`` use.
"""
