"""Operations: health and readiness, Prometheus metrics, structured request logs.

`metrics` is imported by every layer that counts an event (it imports nothing of the
provider); `views.install(app)` wires the rest into the application.
"""
