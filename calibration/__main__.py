"""`python -m calibration …` is the `footfall` command, calibrate included."""

from calibration.launch import main

main()
