"""Classic plain CNNs: LeNet-5 (as in the Keras tutorials) and VGG-16."""
from aot.frontends.keras import Sequential, layers


def lenet(input_shape=(28, 28, 1), classes: int = 10):
    return Sequential([
        layers.Input(shape=input_shape, name="image"),
        layers.Conv2D(6, 5, padding="same", activation="relu"),
        layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, padding="same", activation="relu"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="relu"),
        layers.Dense(84, activation="relu"),
        layers.Dense(classes, activation="softmax", name="probs"),
    ], name="lenet")


VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg16(input_shape=(224, 224, 3), classes: int = 1000, fc_units: int = 4096):
    model = Sequential(name="vgg16")
    model.add(layers.Input(shape=input_shape, name="image"))
    for b, (filters, convs) in enumerate(VGG16_BLOCKS, 1):
        for c in range(1, convs + 1):
            model.add(layers.Conv2D(filters, 3, padding="same", activation="relu",
                                    name=f"block{b}_conv{c}"))
        model.add(layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool"))
    model.add(layers.Flatten(name="flatten"))
    model.add(layers.Dense(fc_units, activation="relu", name="fc1"))
    model.add(layers.Dense(fc_units, activation="relu", name="fc2"))
    model.add(layers.Dense(classes, activation="softmax", name="predictions"))
    return model
