"""Settings Ultralytics reads when it is first imported; set before any stage imports it."""

import os


def prepare_ultralytics_environment() -> None:
    """No pip installs at run time, no banner logging. Values the user set explicitly are kept."""
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
