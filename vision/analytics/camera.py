"""One camera's analytics stage: samples are gathered per live track, and each track that ends is put through the
site's flow analytics (visits, crossings, staff) when there is a site. Memory holds only live tracks."""

from __future__ import annotations

from vision.analytics.assemble import TrackAssembler
from vision.analytics.site import SiteFlow, TrackFlow
from vision.core.types import FloorTracks, TrackHistory


class CameraAnalytics:
    def __init__(self, camera: str, flow: SiteFlow | None) -> None:
        self._assembler = TrackAssembler(camera)
        self._flow = flow

    def add(self, floor: FloorTracks) -> list[TrackFlow]:
        """Takes one frame's tracks; returns the tracks that ended at it, analysed."""
        return [self._analyse(track) for track in self._assembler.add(floor)]

    def finish(self) -> list[TrackFlow]:
        """Ends the tracks still live (the source has ended) and returns them, analysed."""
        return [self._analyse(track) for track in self._assembler.finish()]

    def _analyse(self, track: TrackHistory) -> TrackFlow:
        if self._flow is None:
            return TrackFlow(track, [], [], 0.0, False)
        return self._flow.process(track)
