"""dwell.correlate stage."""
