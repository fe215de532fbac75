"""Entry point: ``python -m pipelines <verb> <task> ...``.

Nothing here imports TensorFlow: ``main`` first sets how loud TensorFlow may be (quiet unless
``--verbose``), then checks the config, and only then loads the task.
"""

import sys

from pipelines.spine.cli import main

sys.exit(main())
