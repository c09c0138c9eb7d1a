"""The public ImageNet checkpoints of the paper's Table 1 (and AlexNet), as import sources.

Erichson et al., "NoisyMix: Boosting Model Robustness to Common Corruptions",
arXiv:2202.01263, Table 1: "We use publicly available models". Each entry says where its
weights are published and whether a checksum is: torchvision publishes the first 8 hex
digits of each file's sha256 in its name (checked); RobustBench's model zoo
(RobustBench/robustbench ``robustbench/model_zoo/imagenet.py``) publishes Google Drive ids and
no checksum — those imports record the sha256 of the file the user supplies and mark it
unverified. Torch-free: the vocabulary side of ``noisymix import`` (``noisymix.importer``).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    name: str
    arch: str               # a noisymix arch (models registry)
    method: str             # the Table 1 row label this checkpoint stands for
    source: str             # "torchvision:<Enum>.<MEMBER>" or a URL
    licence: str
    reference: str          # paper / page that publishes the weights
    sha256: str | None = None          # full digest where published
    sha256_prefix: str | None = None   # torchvision: leading hex digits in the file name
    manual: bool = False    # a browser download (Google Drive): pass the file with --file
    note: str = ""

    @property
    def checksum_status(self) -> str:
        if self.sha256:
            return "sha256 published"
        if self.sha256_prefix:
            return f"sha256 prefix {self.sha256_prefix} published (torchvision file name)"
        return "no checksum published: the imported file's sha256 is recorded, unverified"


def _gdrive(file_id: str) -> str:
    return f"https://drive.google.com/uc?export=download&id={file_id}"


_RB = "RobustBench model zoo (robustbench/model_zoo/imagenet.py, threat model corruptions)"
ZOO: dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry("resnet50-torchvision", "resnet50", "erm",
             "torchvision:ResNet50_Weights.IMAGENET1K_V1", "BSD-3-Clause (torchvision)",
             "torchvision ResNet-50 IMAGENET1K_V1 (the paper's baseline)",
             sha256_prefix="0676ba61"),
    ZooEntry("alexnet-torchvision", "alexnet", "alexnet",
             "torchvision:AlexNet_Weights.IMAGENET1K_V1", "BSD-3-Clause (torchvision)",
             "torchvision AlexNet IMAGENET1K_V1 (mCE / mFR normaliser)",
             sha256_prefix="7be5be79"),
    ZooEntry("resnet50-augmix", "resnet50", "augmix", _gdrive("1xRMj1GlO93tLoCMm0e5wEvZwqhIjxhoJ"),
             "Apache-2.0 (google-research/augmix)", f"Hendrycks2020AugMix, {_RB}", manual=True),
    ZooEntry("resnet50-sin", "resnet50", "sin", _gdrive("1hLgeY_rQIaOT4R-t_KyOqPNkczfaedgs"),
             "see rgeirhos/texture-vs-shape", f"Geirhos2018_SIN, {_RB}", manual=True),
    ZooEntry("resnet50-sin-in", "resnet50", "sin_in", _gdrive("139pWopDnNERObZeLsXUysRcLg6N1iZHK"),
             "see rgeirhos/texture-vs-shape", f"Geirhos2018_SIN_IN, {_RB}", manual=True),
    ZooEntry("resnet50-noisymix", "resnet50", "noisymix",
             _gdrive("1wFsiB5h4Fgv6HqOkI_1jR1SZOB_eNK9r"), "see erichson/NoisyMix",
             f"Erichson2022NoisyMix, {_RB}", manual=True),
    ZooEntry("resnet50-adversarial-linf", "resnet50", "adversarial",
             _gdrive("1TmT5oGa1UvVjM3d-XeSj_XmKqBNRUg8r"), "MIT (microsoft/robust-models-transfer)",
             "Salman2020Do_R50 (L∞, ε = 4/255), RobustBench model zoo (threat model Linf)",
             manual=True),
)}

# Table 1 rows with no entry: their releases are not listed by RobustBench and were not
# verified here (cutmix: clovaai/CutMix-PyTorch; puzzlemix: snu-mllab/PuzzleMix; autoaugment).
# Import them from a downloaded file with ``noisymix import --file F --arch resnet50
# --method NAME --source URL``.


def get_entry(name: str) -> ZooEntry:
    from noisymix.errors import UsageError

    if name not in ZOO:
        raise UsageError(f"unknown zoo entry {name!r}; choose one of: {', '.join(ZOO)} "
                         f"(or import a file with --file)")
    return ZOO[name]
