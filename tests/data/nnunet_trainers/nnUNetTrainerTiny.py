"""A trainer class that only the tests know: nnU-Net's CLI finds it through
``nnUNet_extTrainer`` pointing at this folder, as a researcher's own trainer is found.

It trains for one epoch of two iterations and skips nnU-Net's final validation of the fold (a
minute of sliding-window prediction and metrics on a CPU, which the tests do not read): a model
folder as ``nnUNetv2_train`` leaves it, in seconds. hipseg must find the class where nnU-Net
does, or name the folder."""

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainerTiny(nnUNetTrainer):  # noqa: N801 (nnU-Net naming convention)
    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 (nnU-Net's signature)
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 1
        self.num_iterations_per_epoch = 2
        self.num_val_iterations_per_epoch = 1

    def perform_actual_validation(self, save_probabilities: bool = False):
        self.print_to_log_file("final validation skipped (nnUNetTrainerTiny)")
