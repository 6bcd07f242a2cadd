"""Scripts the benchmarks run in a baked project's own Python (`Project.script(name, ...)`): they import the
project's package (named on their command line) and its dependencies, which the template's environment does not
have. Each is a plain script: ``python <file> ARGS`` in the project's folder, one JSON line (or figure) on stdout."""
