"""Entry point: ``python -m pipelines <verb> <task> ...``."""

import os
import sys

# Quieter TensorFlow start-up; must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pipelines.spine.cli import main

sys.exit(main())
