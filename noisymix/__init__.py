"""noisymix: NoisyMix training and corruption-robustness benchmarks.

Paper: Erichson et al., "NoisyMix: Boosting Model Robustness to Common Corruptions",
arXiv:2202.01263. Reference code: github.com/erichson/NoisyMix.
"""

__version__ = "0.1.0"
