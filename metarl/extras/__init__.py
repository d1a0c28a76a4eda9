"""Extras beside the pipeline: the toy explorer and the benchmarks."""
