"""The floor-plan calibration tool: fitting image ⇄ floor mappings from clicked point pairs.

It meets the engine only through files (the versioned calibration JSON read by `vision.calibration_file`), and may
import `vision.geometry`; `vision` never imports this package.
"""
