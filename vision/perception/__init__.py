"""Seeing people: detection (`detect`), tracking (`track`), pseudonyms for tracks (`anonymise`) and projection of
foot points onto the floor (`project`). Each stage takes and returns the typed objects of `vision.core.types`."""
