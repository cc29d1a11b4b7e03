"""The REST JSON API under /api/v1/ (docs/api.md). It starts with release: the approval queue,
publishing and retracting; the search, import and admin endpoints follow with the UI issue."""
