from setuptools import find_packages, setup

setup(
    name="npgan",
    version="0.1.0",
    description="Generative adversarial networks from scratch: hand-written backprop on NumPy or CuPy",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["npgan", "npgan.*"]),
    python_requires=">=3.9",
    install_requires=["numpy>=1.22", "tqdm>=4.60", "threadpoolctl>=3.1"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        "plot": ["matplotlib>=3.5"],
        "gpu": ["cupy-cuda12x[ctk]"],
        "lint": ["ruff>=0.5"],
    },
    entry_points={"console_scripts": ["npgan=npgan.cli:main"]},
)
