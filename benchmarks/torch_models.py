"""The zoo's MLP, LeNet, ResNet-18 and MobileNetV2 as plain PyTorch eager modules, with the
weights of our model (by parameter name), for side-by-side timing.

Channels-last throughout (torch's `channels_last` memory format, so an NHWC numpy batch
enters as a zero-copy view); Keras "same" padding is asymmetric for strided layers and
becomes an explicit `F.pad` there. Batch norm runs as torch's eval-mode `batch_norm`.
The transformer encoder and the LSTM read Keras's weight layouts directly (MHA kernels
[d_model, heads, key_dim], LSTM gates i, f, c, o in one [input, 4*units] kernel).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def build(name: str, model):
    """A torch module computing `model` (a zoo model) with its weights, or None."""
    builder = {"mlp": _Mlp, "lenet": _LeNet, "resnet18": _ResNet18,
               "mobilenet_v2": _MobileNetV2, "transformer_encoder": _TransformerEncoder,
               "lstm_classifier": _LstmClassifier}.get(name)
    if builder is None:
        return None
    params = {p.name: torch.from_numpy(np.ascontiguousarray(p.data)) for p in model.to_graph().params}
    return builder(params).eval()


def feed(name: str, x: np.ndarray) -> torch.Tensor:
    """Our input array as the module's input (NHWC images -> an NCHW view, channels-last)."""
    t = torch.from_numpy(x)
    if t.dtype in (torch.int32, torch.int64):
        return t.long()  # token ids: embedding lookups take int64
    return t.permute(0, 3, 1, 2) if t.ndim == 4 else t


class _Base(torch.nn.Module):
    def __init__(self, params):
        super().__init__()
        self.p = params

    def dense(self, x, name, act=None):
        y = F.linear(x, self.p[f"{name}/kernel"].t().contiguous(), self.p.get(f"{name}/bias"))
        return act(y) if act else y

    def conv(self, x, name, stride=1, groups=1, bias=True):
        w = self.p[f"{name}/kernel"]  # HWIO (depthwise: H, W, C, 1)
        w = w.permute(2, 3, 0, 1) if groups > 1 else w.permute(3, 2, 0, 1)
        w = w.contiguous(memory_format=torch.channels_last)
        x, pad = _same_padding(x, w.shape[-1], stride)
        return F.conv2d(x, w, self.p.get(f"{name}/bias") if bias else None, stride, pad,
                        groups=groups)

    def bn(self, x, name, eps):
        p = self.p
        return F.batch_norm(x, p[f"{name}/moving_mean"], p[f"{name}/moving_variance"],
                            p[f"{name}/gamma"], p[f"{name}/beta"], False, 0.0, eps)


def _same_padding(x, k, stride):
    """Keras "same": total padding max((ceil(H/s)-1)*s + k - H, 0), the extra row/column at
    the bottom/right. Symmetric: conv2d's own padding; else an explicit pad."""
    h, w = x.shape[-2:]
    tot = [max((math.ceil(n / stride) - 1) * stride + k - n, 0) for n in (h, w)]
    if all(t % 2 == 0 for t in tot):
        return x, (tot[0] // 2, tot[1] // 2)
    return F.pad(x, (tot[1] // 2, tot[1] - tot[1] // 2, tot[0] // 2, tot[0] - tot[0] // 2)), 0


class _Mlp(_Base):
    def forward(self, x):
        x = self.dense(x, "dense_0", F.relu)
        x = self.dense(x, "dense_1", F.relu)
        return torch.softmax(self.dense(x, "probs"), -1)


class _LeNet(_Base):
    def forward(self, x):
        x = F.avg_pool2d(F.relu(self.conv(x, "conv2d")), 2)
        x = F.avg_pool2d(F.relu(self.conv(x, "conv2d_1")), 2)
        x = x.permute(0, 2, 3, 1).flatten(1)  # Keras flattens NHWC
        x = self.dense(self.dense(x, "dense", F.relu), "dense_1", F.relu)
        return torch.softmax(self.dense(x, "probs"), -1)


class _ResNet18(_Base):
    def conv_bn(self, x, name, stride=1):
        return self.bn(self.conv(x, f"{name}_conv", stride, bias=False), f"{name}_bn", 1e-5)

    def block(self, x, name, stride, down):
        y = F.relu(self.conv_bn(x, f"{name}_1", stride))
        y = self.conv_bn(y, f"{name}_2")
        return F.relu(y + (self.conv_bn(x, f"{name}_down", stride) if down else x))

    def forward(self, x):
        x = F.relu(self.conv_bn(x, "stem", 2))
        x = _max_pool_same(x)
        for s, stride in enumerate((1, 2, 2, 2), 1):
            x = self.block(x, f"stage{s}_block1", stride, down=s > 1)
            x = self.block(x, f"stage{s}_block2", 1, down=False)
        return torch.softmax(self.dense(x.mean((2, 3)), "probs"), -1)


def _max_pool_same(x):
    """MaxPooling2D(3, strides=2, padding="same"): padded with -inf, bottom/right first."""
    h, w = x.shape[-2:]
    tot = [max((math.ceil(n / 2) - 1) * 2 + 3 - n, 0) for n in (h, w)]
    x = F.pad(x, (tot[1] // 2, tot[1] - tot[1] // 2, tot[0] // 2, tot[0] - tot[0] // 2),
              value=float("-inf"))
    return F.max_pool2d(x, 3, 2)


_MBV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class _MobileNetV2(_Base):
    def cbr(self, x, name, bn, stride=1, groups=1, relu=True):
        y = self.bn(self.conv(x, name, stride, groups, bias=False), bn, 1e-3)
        return F.relu6(y) if relu else y

    def forward(self, x):
        x = self.cbr(x, "stem_conv", "stem_bn", 2)
        ch, b = 32, 0
        for t, c, n, s in _MBV2:
            for i in range(n):
                stride, name = (s if i == 0 else 1), f"block_{b}"
                y = self.cbr(x, f"{name}_expand", f"{name}_expand_bn") if t != 1 else x
                y = self.cbr(y, f"{name}_depthwise", f"{name}_depthwise_bn", stride, ch * t)
                y = self.cbr(y, f"{name}_project", f"{name}_project_bn", relu=False)
                x = x + y if stride == 1 and ch == c else y
                ch, b = c, b + 1
        x = self.cbr(x, "head_conv", "head_bn")
        return torch.softmax(self.dense(x.mean((2, 3)), "probs"), -1)


class _TransformerEncoder(_Base):
    """models/sequence.py: embedding, post-norm encoder blocks (Keras MultiHeadAttention,
    scale 1/sqrt(key_dim)), global average pooling, softmax head."""

    def mha(self, x, name):
        p = self.p
        q, k, v = (torch.einsum("bsd,dhk->bhsk", x, p[f"{name}/{n}/kernel"]) + p[f"{name}/{n}/bias"][:, None]
                   for n in ("query", "key", "value"))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1) @ v
        return torch.einsum("bhsk,hkd->bsd", a, p[f"{name}/attention_output/kernel"]) \
            + p[f"{name}/attention_output/bias"]

    def ln(self, x, name):
        return F.layer_norm(x, x.shape[-1:], self.p[f"{name}/gamma"], self.p[f"{name}/beta"], 1e-6)

    def forward(self, tokens):
        x = F.embedding(tokens, self.p["embedding/embeddings"])
        i = 0
        while f"encoder_{i}_mha/query/kernel" in self.p:
            n = f"encoder_{i}"
            x = self.ln(x + self.mha(x, f"{n}_mha"), f"{n}_ln1")
            ff = self.dense(self.dense(x, f"{n}_ff1", F.relu), f"{n}_ff2")
            x = self.ln(x + ff, f"{n}_ln2")
            i += 1
        return torch.softmax(self.dense(x.mean(1), "probs"), -1)


class _LstmClassifier(_Base):
    """models/sequence.py: embedding, torch's fused nn.LSTM with Keras's weights (gate order
    i, f, c, o is torch's i, f, g, o), last hidden state, softmax head."""

    def __init__(self, params):
        super().__init__(params)
        kernel = self.named("lstm_cell/kernel")
        units = kernel.shape[1] // 4
        self.lstm = torch.nn.LSTM(kernel.shape[0], units, batch_first=True)
        with torch.no_grad():
            self.lstm.weight_ih_l0.copy_(kernel.t())
            self.lstm.weight_hh_l0.copy_(self.named("lstm_cell/recurrent_kernel").t())
            self.lstm.bias_ih_l0.copy_(self.named("lstm_cell/bias"))
            self.lstm.bias_hh_l0.zero_()

    def named(self, suffix):
        """The one weight whose name ends with `suffix` (layer names are numbered per
        instance: `lstm`, `lstm_1`, ...)."""
        (w,) = [v for k, v in self.p.items() if k.endswith(suffix)]
        return w

    def forward(self, tokens):
        _, (h, _) = self.lstm(F.embedding(tokens, self.named("/embeddings")))
        return torch.softmax(self.dense(h[-1], "probs"), -1)
