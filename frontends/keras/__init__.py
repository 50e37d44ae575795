"""The Keras-style builder: Sequential, functional and subclassed models whose layers emit
aot IR when traced (`model.to_graph()`), and run compiled (`model.predict`)."""
from . import activations, initializers, layers, ops
from .functional import Functional
from .layers import Input, InputLayer, Layer
from .model import Model
from .sequential import Sequential
from .tracing import KerasTensor, Variable, clear_session
from .initializers import set_random_seed

__all__ = ["Sequential", "Model", "Functional", "Input", "InputLayer", "Layer", "KerasTensor",
           "Variable", "layers", "initializers", "activations", "ops", "clear_session",
           "set_random_seed"]
