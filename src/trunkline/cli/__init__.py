"""trunkline's command line: serve, demo, ncco validate."""
