"""MobileNetV2 (inverted residuals, linear bottlenecks, ReLU6), as in Keras applications."""
from aot.frontends.keras import Input, Model, layers

# (expansion t, output channels c, repeats n, first stride s)
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
          (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _inverted_residual(x, in_ch, expansion, out_ch, strides, name):
    y = x
    if expansion != 1:
        y = layers.Conv2D(in_ch * expansion, 1, use_bias=False, name=f"{name}_expand")(y)
        y = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_expand_bn")(y)
        y = layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                               name=f"{name}_depthwise")(y)
    y = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_depthwise_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(y)
    y = layers.Conv2D(out_ch, 1, use_bias=False, name=f"{name}_project")(y)
    y = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_project_bn")(y)
    if strides == 1 and in_ch == out_ch:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def mobilenet_v2(input_shape=(224, 224, 3), classes: int = 1000, alpha: float = 1.0):
    inputs = Input(shape=input_shape, name="image")
    ch = _make_divisible(32 * alpha)
    x = layers.Conv2D(ch, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(epsilon=1e-3, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    block = 0
    for t, c, n, s in BLOCKS:
        out_ch = _make_divisible(c * alpha)
        for i in range(n):
            x = _inverted_residual(x, ch, t, out_ch, s if i == 0 else 1, f"block_{block}")
            ch, block = out_ch, block + 1
    last = _make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-3, name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probs")(x)
    return Model(inputs, outputs, name="mobilenet_v2")
