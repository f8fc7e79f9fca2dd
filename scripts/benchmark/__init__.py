"""The benchmark behind `scripts/bench.py`: machine probes, random full-size models, engine rows
through the service's own engines and scheduler, the HTTP service rows, and the report."""
