"""Customer-service assistant: intents with answer templates, FAQ retrieval, hand-off to a human."""
