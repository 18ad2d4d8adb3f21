"""A recording classifier whose fit can be slowed down from the environment.

``SWEEP_TEST_FIT_DELAY_S`` (seconds) is read by each fit: set it in the process that
evaluates the test set and the final refit takes that long, while the Ray workers of the
sweep (started without it) fit at full speed.
"""

from __future__ import annotations

import os
import time

from tests.recording import RecordingClassifier


class SlowRefitClassifier(RecordingClassifier):
    def fit(self, X, y):
        time.sleep(float(os.environ.get("SWEEP_TEST_FIT_DELAY_S", "0")))
        return super().fit(X, y)
