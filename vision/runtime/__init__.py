"""Running the engine: `camera_run` (one camera's loop, built from its parts) and what runs it: `batch` (`footfall
run` over inputs) with its preflight checks, output folder, site outputs and `run.json` report."""
