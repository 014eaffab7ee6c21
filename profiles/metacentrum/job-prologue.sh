# Sourced (bash) at the start of every PBS job, before Snakemake's job command.
# Snakemake runs each job with the Python of the environment it was started from
# (`$HIPSEG_VENV/bin/python -m snakemake ...`), so that environment must lie on shared storage
# (see docs/clusters.md, "Running on MetaCentrum"). PyTorch's wheels bring their own CUDA
# runtime: only the node's driver is needed. Put module loads or other setup here, e.g.
#   module add mambaforge
# or, with a Singularity/Apptainer image, nothing (see docs/clusters.md).
