"""ResNet-18 (basic blocks, channels-last), written with the functional API."""
from aot.frontends.keras import Input, Model, layers

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


def _conv_bn(x, filters, kernel, strides, name):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    return layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)


def _basic_block(x, in_filters, filters, strides, name):
    y = layers.ReLU(name=f"{name}_relu1")(_conv_bn(x, filters, 3, strides, f"{name}_1"))
    y = _conv_bn(y, filters, 3, 1, f"{name}_2")
    shortcut = x
    if strides != 1 or in_filters != filters:
        shortcut = _conv_bn(x, filters, 1, strides, f"{name}_down")
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))


def resnet18(input_shape=(224, 224, 3), classes: int = 1000):
    inputs = Input(shape=input_shape, name="image")
    x = layers.ReLU(name="stem_relu")(_conv_bn(inputs, 64, 7, 2, "stem"))
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    filters_in = 64
    for s, (filters, strides) in enumerate(STAGES, 1):
        x = _basic_block(x, filters_in, filters, strides, f"stage{s}_block1")
        x = _basic_block(x, filters, filters, 1, f"stage{s}_block2")
        filters_in = filters
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probs")(x)
    return Model(inputs, outputs, name="resnet18")
