"""The functional core: parameter dicts, the adaptation loop, problems, solvers, meta-algorithms."""
