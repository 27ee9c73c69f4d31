"""stylescope: a PyTorch lab for training, inspecting, pruning and explaining StyleGAN generators.

Vocabulary used throughout the package (after the NVlabs StyleGAN2 code base):

    z, z_dim            input latent, [batch, z_dim]
    c, c_dim            conditioning label, [batch, c_dim]; c_dim = 0 means unconditional
    w, w_dim            one intermediate latent, [batch, w_dim]
    ws, num_ws          per-layer latents fed to the synthesis network, [batch, num_ws, w_dim]
    w_avg               tracked mean of W, the centre of truncation, [w_dim]
    img                 image in [-1, 1], [batch, img_channels, height, width]
    lr_multiplier       equalized-learning-rate multiplier of a layer
    weight_gain         runtime factor lr_multiplier / sqrt(fan_in) applied to a raw weight
    *_kimg, cur_nimg    durations in thousands of images, counters in images

Tensor layout legend for shape comments: N batch, C channels, H height, W width, O output
channels, I input channels, K kernel size.
"""

__version__ = "0.1.0"
