"""A short nnU-Net trainer for the CPU demo and tests.

nnU-Net's default trainer runs 1000 epochs × 250 iterations; this subclass changes only the
schedule (epochs, iterations, checkpoint interval). ``hipseg train`` sets the numbers from the
workflow config on any trainer; these defaults apply when nnU-Net's own CLI is used
(``nnUNetv2_train … -tr nnUNetTrainerHipsegShort`` with ``nnUNet_extTrainer`` pointing here).
"""

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainerHipsegShort(nnUNetTrainer):  # noqa: N801 (nnU-Net naming convention)
    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 (nnU-Net's signature)
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 20
        self.num_iterations_per_epoch = 25
        self.num_val_iterations_per_epoch = 5
        self.save_every = 1
