"""The template's own tools: the maintenance commands behind `make lock`, `make vendor` and `make demo`, and the
plumbing that the template's tests and benchmarks share (the telemetry-off variables, servers started and waited
for). Nothing here is shipped in a generated project."""
