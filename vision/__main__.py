from vision.cli.startup import exit_unless_opencv_loads

exit_unless_opencv_loads()

from vision.cli.app import app, run_cli  # noqa: E402  (after the check, which must come before OpenCV loads)

run_cli(app)
