"""Character language model: truncated BPTT, in-graph sampling, hidden-unit inspector."""
