"""Keras layers (channels-last), as `aot.layers`."""
from .base import Layer, UnknownArgumentError
from .input_layer import Input, InputLayer
from .core import (ELU, Activation, Dense, Dropout, Embedding, Flatten, Identity, Lambda,
                   LeakyReLU, Permute, ReLU, Reshape, Softmax)
from .conv import (Conv2D, Conv2DTranspose, Cropping2D, DepthwiseConv2D, SeparableConv2D,
                   UpSampling2D, ZeroPadding2D)
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .normalization import BatchNormalization, LayerNormalization
from .merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average,
                    concatenate, maximum, minimum, multiply, subtract)
from .recurrent import GRU, LSTM, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from .attention import MultiHeadAttention

Convolution2D, Convolution2DTranspose = Conv2D, Conv2DTranspose
SeparableConvolution2D = SeparableConv2D


def deserialize(config: dict) -> Layer:
    """A layer from {"class_name": ..., "config": ...} (what get_config-based configs hold)."""
    cls = globals().get(config["class_name"])
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"Unknown layer: {config['class_name']!r}")
    return cls.from_config(config["config"])


def serialize(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
