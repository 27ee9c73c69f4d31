"""Numbers for every claim: distribution metrics, probes, same-latent fidelity, path length.

features      feature extractors behind one interface (TF-Inception, the synthfaces probe)
distribution  FID, KID, precision/recall on features
probes        attribute regressor and region parser trained on synthfaces ground truth
fidelity      PSNR, SSIM and probe-feature distance between two generators; path length
evaluate      the metric runner with named sample counts (fid2k) and cached real features
faces         optional real-face models (dlib identity descriptors, mediapipe detection)
"""
