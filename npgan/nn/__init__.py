"""Layers with hand-written forward and backward passes (``npgan.nn``)."""

from .activations import Activation, LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .container import Sequential
from .conv import Conv2D, ConvTranspose2D
from .dense import Dense
from .dropout import Dropout
from .gradient_modes import data_input, frozen
from .module import Layer, Parameter
from .normalization import BatchNorm, LayerNorm
from .second_order import record_backward
from .shape import Flatten, Reshape
from .spectral import SpectralNorm

__all__ = [
    "Layer", "Parameter", "Activation", "Dense", "Conv2D", "ConvTranspose2D", "ReLU", "LeakyReLU",
    "Tanh", "Sigmoid", "sigmoid", "BatchNorm", "LayerNorm", "Dropout", "Flatten", "Reshape", "Sequential",
    "SpectralNorm",
    "frozen", "data_input", "record_backward",
]
