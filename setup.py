from setuptools import find_packages, setup

setup(
    name="npgan",
    version="0.1.0",
    description="Generative adversarial networks from scratch: hand-written backprop on NumPy or CuPy",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["npgan", "npgan.*"]),
    package_data={"npgan.exercises": ["solutions/*.txt"]},  # the exercises' worked solutions
    python_requires=">=3.9",
    install_requires=["numpy>=1.22", "tqdm>=4.60", "threadpoolctl>=3.1"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        "plot": ["matplotlib>=3.5"],
        "gpu": ["cupy-cuda12x[ctk]"],
        "lint": ["ruff>=0.5"],
        # data-parallel training: mpi4py and an MPI (MPICH's wheel, with its mpiexec) from PyPI
        "mpi": ["mpi4py>=4", "mpich>=4"],
        # the documentation site (MkDocs 1.x) and its browser test; its figures need matplotlib
        "docs": ["mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10", "mkdocstrings[python]>=0.26",
                 "mkdocs-gen-files>=0.5", "mkdocs-literate-nav>=0.6", "markdown-exec>=1.8",
                 "pymdown-extensions>=10", "ruff>=0.5", "playwright>=1.40", "matplotlib>=3.5"],
    },
    entry_points={"console_scripts": ["npgan=npgan.__main__:main"]},
)
