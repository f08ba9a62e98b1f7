"""Sources -> validated typed records -> store. Not built yet: arrives with the ingest issue."""
