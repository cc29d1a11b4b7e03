"""The audit log's hash chain: pure functions, no I/O (storage appends rows; this says what
their hashes must be and checks a stored chain)."""
