"""Flow analytics on floor trajectories: zone visits with hysteresis, line crossings, occupancy, paths, queues,
dwell heatmaps and staff detection. Each function works on finished tracks (`TrackHistory`), so state is kept
only for tracks that are still live."""
