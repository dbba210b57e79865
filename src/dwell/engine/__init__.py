"""dwell.engine stage."""
