"""Benchmarks printed by ``metarl bench <name>`` (each module has ``main(argv)``)."""
