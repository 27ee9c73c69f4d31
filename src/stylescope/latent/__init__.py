"""The latent lab: style space, global perturbations, per-dimension sweeps, directions, editing
and projection, each measured with the synthfaces probes."""
