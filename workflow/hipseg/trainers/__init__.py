"""nnU-Net trainer classes shipped with hipseg (found by nnU-Net through ``nnUNet_extTrainer``)."""
