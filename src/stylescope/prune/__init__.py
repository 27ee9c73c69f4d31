"""Pruning: structured channel pruning, unstructured magnitude pruning, specs and distillation.

`channels` finds the channel groups of a synthesis network, scores channels (weight L1, style
aware, content aware) and rebuilds a physically smaller generator; `spec` saves and re-applies
which channels survive; `magnitude` zeroes the smallest weights; `distill` fine-tunes a pruned
generator from its dense teacher; `evaluate` measures MACs, latency and fidelity.
"""
