# Proof of the paper's nnU-Net plan: nnU-Net's planner on full-size radiographs of the synthetic
# `paper` preset (a spacing-stratified subset; radiographs: 0 = all 83), shown in the report.


rule paper_plan:
    input:
        # order only (ancient: never a reason to rerun): it starts beside nnU-Net's planning of
        # the dataset, a stage of one job, instead of beside the radiographs' de-identification
        # and cropping, which use every core; on the demo's 2 cores that is 20-30 s sooner done
        after=ancient(rules.dataset.output.cases),
    output:
        f"{RESULTS}/paper_plan/plan.json",
    log:
        f"{RESULTS}/logs/paper_plan.log",
    benchmark:
        f"{BENCH}/paper_plan.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=config["paper_plan"]["mem_mb"],
    params:
        code=CODE["paper_plan"],
        work=f"{RESULTS}/paper_plan/work",
        options=options("paper_plan"),
    shell:
        "python -m hipseg paper-plan --out {output} --work {params.work}"
        " --options {params.options:q} > {log} 2>&1"
