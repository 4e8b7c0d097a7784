"""The test stage: project.settings with STAGE=test. All settings logic stays in project/settings.py."""

import os

os.environ["STAGE"] = "test"

from project.settings import *  # noqa: E402,F401,F403
