"""Business applications built on the core (recipes, inference, registry): the assistant and the monitor.

They never import the server or the CLI; the server mounts their routes (`tunelab.serving.routes`).
"""
