"""dwell.scenario stage."""
