"""Financial-news sentiment monitor: ingest events, classify, aggregate per entity, alert."""
