"""Sequence models: an Embedding + LSTM text classifier and a small transformer encoder."""
from aot.frontends.keras import Input, Model, Sequential, layers


def lstm_classifier(seq_len: int = 64, vocab_size: int = 1000, embed_dim: int = 32,
                    units: int = 64, classes: int = 2):
    model = Sequential([
        layers.Input(shape=(seq_len,), dtype="int32", name="tokens"),
        layers.Embedding(vocab_size, embed_dim),
        layers.LSTM(units),
        layers.Dense(classes, activation="softmax", name="probs"),
    ], name="lstm_classifier")
    model.vocab_size = vocab_size
    return model


def _encoder_block(x, d_model, heads, ff_dim, name):
    attn = layers.MultiHeadAttention(num_heads=heads, key_dim=d_model // heads, name=f"{name}_mha")(x, x)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(layers.Add(name=f"{name}_res1")([x, attn]))
    ff = layers.Dense(ff_dim, activation="relu", name=f"{name}_ff1")(x)
    ff = layers.Dense(d_model, name=f"{name}_ff2")(ff)
    return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(layers.Add(name=f"{name}_res2")([x, ff]))


def transformer_encoder(seq_len: int = 128, vocab_size: int = 1000, d_model: int = 128,
                        heads: int = 4, ff_dim: int = 512, num_layers: int = 2, classes: int = 2):
    tokens = Input(shape=(seq_len,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab_size, d_model, name="embedding")(tokens)
    for i in range(num_layers):
        x = _encoder_block(x, d_model, heads, ff_dim, f"encoder_{i}")
    x = layers.GlobalAveragePooling1D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probs")(x)
    model = Model(tokens, outputs, name="transformer_encoder")
    model.vocab_size = vocab_size
    return model
