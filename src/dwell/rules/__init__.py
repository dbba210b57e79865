"""dwell.rules stage."""
