"""Install speechbrain_diffa: DIFFA-2 (a diffusion large audio-language model) for SpeechBrain."""

from setuptools import find_packages, setup

setup(
    name="speechbrain_diffa",
    version="0.1.0",
    description="DIFFA-2, a diffusion large audio-language model (Whisper + adapters + LLaDA), as a SpeechBrain plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["speechbrain_diffa", "speechbrain_diffa.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.7.1",
        "torchaudio>=2.7.1",
        "speechbrain>=1.1.2,<1.2",
        "transformers>=5.24,<6",
        "hyperpyyaml>=1.2.3",
        "sentencepiece",
        "peft>=0.21",
        "tensorboard",
        "soundfile",
        "safetensors",
        "huggingface_hub",
        "ruamel.yaml>=0.17.28",
        "PyYAML",
    ],
    extras_require={"test": ["pytest"]},
    entry_points={"console_scripts": ["diffa2 = speechbrain_diffa.cli:main_exit"]},
)
