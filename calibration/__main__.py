"""`python -m calibration …` is the `footfall` command, calibrate included."""

from calibration.cli import main

main()
