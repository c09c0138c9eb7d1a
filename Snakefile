# noisymix: the NoisyMix reproduction (Erichson et al., arXiv:2202.01263) as one DAG.
# Table of contents only: settings in params.yaml, rules in workflow/rules/, runtime settings in
# workflow/profiles/<site>/config.yaml.
#   snakemake --profile workflow/profiles/local                       # quick profile, CPU
#   snakemake --profile workflow/profiles/local --config profile=cifar --resources gpu=4
#   snakemake --profile workflow/profiles/slurm --config profile=imagenet
from snakemake.utils import min_version, validate

from noisymix.config import SCHEMA_PATH

min_version("9.0")


configfile: "params.yaml"


validate(config, str(SCHEMA_PATH))  # noisymix/pipeline/params.schema.yaml, shipped with the package


include: "workflow/rules/common.smk"


# Full scale: the repository root. `--config scale=smoke`: smoke/<profile>/, the same paths.
workdir: get_workdir()


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/corrupt.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
