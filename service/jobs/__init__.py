"""Asynchronous jobs: a persisted job table, a huey queue that carries job ids, a worker that
runs the pipeline, and signed webhooks with retries. No web code: the API is in
`service.api.jobs`."""
