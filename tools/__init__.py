"""The template's own tools: the maintenance commands behind `make lock`, `make vendor` and `make demo`. Nothing
here is shipped in a generated project."""
