"""dwell.report stage."""
