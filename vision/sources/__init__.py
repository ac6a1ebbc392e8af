"""Where frames come from: `base` (the `FrameSource` protocol, source facts, the sampler) and `files` (video files
and image sequences)."""
