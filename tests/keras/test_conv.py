"""Convolution and pooling layers against loop-based numpy, and Keras's output-size rules."""
import math

import numpy as np
import pytest

from aot import layers

from .helpers import assert_close, layer_model, randn, run, run_layer


# ------------------------------------------------------------------ numpy oracles

def tf_same_pads(size, k, s, d=1):
    """TensorFlow's "same": output ceil(size / s); the odd padding pixel goes after."""
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def conv_ref(x, w, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    """NHWC x, HWIO w (I = C / groups): a loop over output pixels."""
    (kh, kw, cg, o), (sh, sw), (dh, dw) = w.shape, strides, dilation
    (t, b), (left, r) = ((tf_same_pads(x.shape[1], kh, sh, dh), tf_same_pads(x.shape[2], kw, sw, dw))
                         if padding == "same" else ((0, 0), (0, 0)))
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, b), (left, r), (0, 0)))
    ho = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    wo = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    og, out = o // groups, np.zeros((x.shape[0], ho, wo, o))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * sh:i * sh + (kh - 1) * dh + 1:dh, j * sw:j * sw + (kw - 1) * dw + 1:dw]
            for g in range(groups):
                out[:, i, j, g * og:(g + 1) * og] = np.einsum(
                    "nhwc,hwco->no", patch[..., g * cg:(g + 1) * cg], w[..., g * og:(g + 1) * og])
    return out


def pool_ref(x, size, strides, padding, kind):
    """Padding never takes part: -inf for max, left out of the count for the average."""
    (kh, kw), (sh, sw) = size, strides
    (t, b), (left, r) = ((tf_same_pads(x.shape[1], kh, sh), tf_same_pads(x.shape[2], kw, sw))
                         if padding == "same" else ((0, 0), (0, 0)))
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, b), (left, r), (0, 0)), constant_values=np.nan)
    ho, wo = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    out = np.zeros((x.shape[0], ho, wo, x.shape[3]))
    for i in range(ho):
        for j in range(wo):
            win = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, i, j] = np.nanmax(win, (1, 2)) if kind == "max" else np.nanmean(win, (1, 2))
    return out


def keras_conv_length(size, k, s, padding, d=1):
    k_eff = (k - 1) * d + 1
    return math.ceil(size / s) if padding == "same" else (size - k_eff) // s + 1


def keras_deconv_length(size, k, s, padding, output_padding=None, d=1):
    """keras.src.utils.conv_utils.deconv_output_length."""
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        return size * s + max(k - s, 0) if padding == "valid" else size * s
    pad = k // 2 if padding == "same" else 0
    return (size - 1) * s + k - 2 * pad + output_padding


# ------------------------------------------------------------------ Conv2D

CONV_CASES = [
    dict(filters=4, kernel_size=3),
    dict(filters=4, kernel_size=3, padding="same"),
    dict(filters=3, kernel_size=3, strides=2, padding="same"),
    dict(filters=3, kernel_size=(2, 4), strides=(1, 3), padding="same"),
    dict(filters=2, kernel_size=(3, 2), strides=(2, 1), padding="valid"),
    dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"),
    dict(filters=4, kernel_size=3, groups=2, activation="relu"),
]


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=str)
def test_conv2d(kwargs, rng):
    x = randn(rng, 2, 7, 8, 4)
    layer = layers.Conv2D(**kwargs)
    got = run_layer(layer, x, rng=rng)
    kernel, bias = layer.get_weights()
    k = layer.kernel_size
    assert kernel.shape == k + (4 // kwargs.get("groups", 1), kwargs["filters"])
    s, pad, d = layer.strides, layer.padding, layer.dilation_rate
    assert got.shape[1:3] == (keras_conv_length(7, k[0], s[0], pad, d[0]),
                              keras_conv_length(8, k[1], s[1], pad, d[1]))
    want = conv_ref(x, kernel, s, pad, d, layer.groups) + bias
    assert_close(got, np.maximum(want, 0) if kwargs.get("activation") else want)


def test_conv2d_same_padding_puts_odd_pixel_after():
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 3, 3, 0] = 1.0  # last pixel: seen by the last output only if padding goes after
    layer = layers.Conv2D(1, 2, strides=2, padding="same", use_bias=False,
                          kernel_initializer="ones")
    assert_close(run_layer(layer, x)[0, :, :, 0], [[0, 0], [0, 1]])


def test_conv2d_argument_errors():
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="groups"):
        layers.Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match="channels_last"):
        layers.Conv2D(3, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="dilation"):
        layers.Conv2D(3, 3, strides=2, dilation_rate=2)


# ------------------------------------------------------------------ Conv2DTranspose

TRANSPOSE_CASES = [
    dict(kernel_size=3, strides=2, padding="same"),
    dict(kernel_size=3, strides=2, padding="valid"),
    dict(kernel_size=4, strides=2, padding="same"),
    dict(kernel_size=2, strides=3, padding="valid"),
    dict(kernel_size=1, strides=2, padding="same"),
    dict(kernel_size=3, strides=2, padding="same", output_padding=1),
    dict(kernel_size=3, strides=3, padding="valid", output_padding=2),
    dict(kernel_size=3, strides=1, padding="same", dilation_rate=2),
    dict(kernel_size=(3, 2), strides=(1, 2), padding="valid"),
]


@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES, ids=str)
def test_conv2d_transpose_is_the_adjoint_of_conv2d(kwargs, rng):
    """Keras (as TensorFlow) defines it as the gradient of Conv2D from the output size:
    <T(x), y> == <x, C(y)> for every y, and the size is deconv_output_length."""
    x = randn(rng, 2, 4, 3, 3)
    layer = layers.Conv2DTranspose(2, use_bias=False, **kwargs)
    got = run_layer(layer, x, rng=rng)
    (kernel,) = layer.get_weights()
    assert kernel.shape == layer.kernel_size + (2, 3)
    op = layer.output_padding or (None, None)
    lengths = tuple(keras_deconv_length(n, k, s, layer.padding, p, d) for n, k, s, p, d in zip(
        (4, 3), layer.kernel_size, layer.strides, op, layer.dilation_rate))
    assert got.shape == (2,) + lengths + (2,)
    y = rng.normal(size=got.shape)
    back = conv_ref(y, kernel, layer.strides, layer.padding, layer.dilation_rate)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(got * y), np.sum(x * back), rtol=1e-5)


def test_conv2d_transpose_adds_bias_and_activation(rng):
    x = randn(rng, 1, 3, 3, 2)
    layer = layers.Conv2DTranspose(2, 3, strides=2, padding="same", activation="relu")
    got = run_layer(layer, x, rng=rng)
    kernel, bias = layer.get_weights()
    no_bias = layers.Conv2DTranspose(2, 3, strides=2, padding="same", use_bias=False)
    model = layer_model(no_bias, x)
    no_bias.set_weights([kernel])
    assert_close(got, np.maximum(run(model, x) + bias, 0))


# ------------------------------------------------------------------ depthwise / separable

@pytest.mark.parametrize("kwargs", [dict(kernel_size=3), dict(kernel_size=3, depth_multiplier=2,
                                                              strides=2, padding="same")], ids=str)
def test_depthwise_conv2d(kwargs, rng):
    x = randn(rng, 2, 5, 6, 3)
    layer = layers.DepthwiseConv2D(**kwargs)
    got = run_layer(layer, x, rng=rng)
    kernel, bias = layer.get_weights()
    mult = kwargs.get("depth_multiplier", 1)
    assert kernel.shape == (3, 3, 3, mult)
    want = np.concatenate([conv_ref(x[..., c:c + 1], kernel[:, :, c:c + 1, :], layer.strides,
                                    layer.padding) for c in range(3)], axis=-1)
    assert_close(got, want + bias)


def test_separable_conv2d(rng):
    x = randn(rng, 2, 5, 5, 3)
    layer = layers.SeparableConv2D(4, 3, depth_multiplier=2, padding="same")
    got = run_layer(layer, x, rng=rng)
    dw, pw, bias = layer.get_weights()
    assert dw.shape == (3, 3, 3, 2) and pw.shape == (1, 1, 6, 4)
    depth = np.concatenate([conv_ref(x[..., c:c + 1], dw[:, :, c:c + 1], padding="same")
                            for c in range(3)], axis=-1)
    assert_close(got, conv_ref(depth, pw) + bias)


# ------------------------------------------------------------------ pooling

@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kwargs", [dict(), dict(pool_size=3, strides=2, padding="same"),
                                    dict(pool_size=(2, 3), strides=1), dict(padding="same")],
                         ids=str)
def test_pooling2d(kind, kwargs, rng):
    x = randn(rng, 2, 6, 5, 3)
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    layer = cls(**kwargs)
    got = run_layer(layer, x)
    assert got.shape[1:3] == tuple(keras_conv_length(n, k, s, layer.padding) for n, k, s in zip(
        (6, 5), layer.pool_size, layer.strides))
    assert_close(got, pool_ref(x, layer.pool_size, layer.strides, layer.padding, kind))


def test_global_pooling(rng):
    x = randn(rng, 2, 4, 5, 3)
    assert_close(run_layer(layers.GlobalAveragePooling2D(), x), x.mean((1, 2)))
    assert_close(run_layer(layers.GlobalMaxPooling2D(), x), x.max((1, 2)))
    assert_close(run_layer(layers.GlobalAveragePooling2D(keepdims=True), x),
                 x.mean((1, 2), keepdims=True))
    seq = randn(rng, 2, 4, 3)
    assert_close(run_layer(layers.GlobalAveragePooling1D(), seq), seq.mean(1))
    assert_close(run_layer(layers.GlobalMaxPooling1D(), seq), seq.max(1))


# ------------------------------------------------------------------ padding and resizing

def test_zero_padding_cropping_upsampling(rng):
    x = randn(rng, 2, 3, 4, 2)
    assert_close(run_layer(layers.ZeroPadding2D(), x), np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    assert_close(run_layer(layers.ZeroPadding2D(((1, 2), (0, 3))), x),
                 np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0))))
    assert_close(run_layer(layers.Cropping2D(((1, 0), (1, 2))), x), x[:, 1:, 1:2])
    assert_close(run_layer(layers.UpSampling2D((2, 3)), x), x.repeat(2, axis=1).repeat(3, axis=2))
