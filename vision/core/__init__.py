"""The engine's shared vocabulary: the typed objects that cross stages, geometry, errors, identifiers, places on
the floor and the floor-plan mapping. Imports nothing else from `vision`."""
