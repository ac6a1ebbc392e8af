"""The floor-plan calibration tool: fitting image ⇄ floor mappings from clicked point pairs, and the page that
draws zones and lines.

It writes what the engine reads (the versioned calibration JSON of `vision.config.calibration_file`, the site
YAML) and uses the engine's shared pieces (`vision.core`: geometry, the floor-plan mapping, places);
`vision` never imports this package (an import-linter contract in pyproject.toml checks it).
"""
