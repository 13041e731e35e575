"""The HTTP routes, one module per concern: events, recommendations, models, health."""
