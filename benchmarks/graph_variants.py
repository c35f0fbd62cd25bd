"""Graph rewrites of the U-Nets tried for speed: each exported and run by the predictor, timed
interleaved with the shipped graph on the same input, with its max |diff| against it.

    MODEL_PATH=.cache/tests/models python benchmarks/graph_variants.py      # official 2stems
    python benchmarks/graph_variants.py -p spleeter:4stems --repeats 12 --only grouped

Variants (all exact rewrites of the same weights; none is shipped, see issue 11's note):
  grouped       the instruments' U-Nets fused into one graph: a shared first conv (2 -> 16N),
                then every layer a grouped conv (groups=N), skips interleaved per group
  shared-first  only the first conv shared (one 2 -> 16N conv, split), the rest per U-Net
  split-concat  ``deconv(concat(skip, x))`` as ``deconv(skip) + deconv(x)`` (no concat copy)
  multi-output  one output per instrument (no ``stack``), stacked by numpy afterwards
  nhwc          every layer in NHWC (channels last) for oneDNN
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")


def variants(model) -> Dict[str, object]:
    """The rewrites of ``model`` (an eval-mode ``SpleeterUNet``) as ``nn.Layer``s."""
    from spleeter_paddle.model.unet import HEAD_DILATION, HEAD_PADDING, STRIDED_PADDING
    from spleeter_paddle.runtime import nn, paddle

    functional = nn.functional
    unets = [model.unets[name] for name in model.instrument_list]
    n_unets = len(unets)

    def masks_times_mix(logits: List, mix):
        if model.softmax:
            masks = paddle.unbind(functional.softmax(paddle.stack(logits, axis=1), axis=1), 1)
        else:
            masks = [functional.sigmoid(logit) for logit in logits]
        return [mask * mix for mask in masks]

    def phase_weight(block):
        weight = block.deconv.weight
        flat = paddle.concat([weight.flatten(), paddle.zeros([1], "float32")])
        weight = paddle.gather(flat, block._phase_index).reshape([-1, weight.shape[0], 3, 3])
        return weight, paddle.repeat_interleave(block.deconv.bias, 4)

    def batch_norm(bn, inputs, data_format="NCHW"):
        return functional.batch_norm(
            inputs, bn._mean, bn._variance, bn.weight, bn.bias, training=False,
            epsilon=bn._epsilon, data_format=data_format,
        )  # fmt: skip

    def parameter(owner, name: str, value):
        """``value`` as a parameter of ``owner`` (an exported graph's weights must be parameters)."""
        created = owner.create_parameter(value.shape, dtype="float32")
        created.set_value(value)
        owner.add_parameter(name, created)
        return created

    def concatenated_bn(bns) -> nn.Layer:
        layer = nn.BatchNorm2D(sum(bn._mean.shape[0] for bn in bns), epsilon=bns[0]._epsilon)
        for name in ("weight", "bias", "_mean", "_variance"):
            getattr(layer, name).set_value(paddle.concat([getattr(bn, name) for bn in bns]))
        layer.eval()
        return layer

    class Grouped(nn.Layer):
        def __init__(self):
            super().__init__()
            self.encoders, self.decoders = [], []
            for index in range(len(unets[0].encoder)):
                blocks = [unet.encoder[index] for unet in unets]
                weight = paddle.concat([block.conv.weight for block in blocks])
                bias = paddle.concat([block.conv.bias for block in blocks])
                bn = concatenated_bn([block.bn for block in blocks])
                self.add_sublayer(f"encoder_bn{index}", bn)
                self.encoders.append(
                    (parameter(self, f"encoder_w{index}", weight),
                     parameter(self, f"encoder_b{index}", bias),
                     1 if index == 0 else n_unets, bn, blocks[0].activation)
                )  # fmt: skip
            for index in range(len(unets[0].decoder)):
                blocks = [unet.decoder[index] for unet in unets]
                if blocks[0].phase_inference:
                    pairs = [phase_weight(block) for block in blocks]
                    weight = paddle.concat([pair[0] for pair in pairs])
                    bias = paddle.concat([pair[1] for pair in pairs])
                else:
                    weight = paddle.concat([block.deconv.weight for block in blocks])
                    bias = paddle.concat([block.deconv.bias for block in blocks])
                bn = concatenated_bn([block.bn for block in blocks])
                self.add_sublayer(f"decoder_bn{index}", bn)
                self.decoders.append(
                    (parameter(self, f"decoder_w{index}", weight),
                     parameter(self, f"decoder_b{index}", bias),
                     blocks[0].phase_inference, bn, blocks[0].activation)
                )  # fmt: skip
            self.head = (
                parameter(self, "head_w", paddle.concat([unet.head.weight for unet in unets])),
                parameter(self, "head_b", paddle.concat([unet.head.bias for unet in unets])),
            )

        def interleave(self, skip, hidden):
            channels, bins = skip.shape[1] // n_unets, skip.shape[3]
            skip = skip.reshape([0, n_unets, channels, -1, bins])
            hidden = hidden.reshape([0, n_unets, channels, -1, bins])
            joined = paddle.concat([skip, hidden], axis=2)
            return joined.reshape([0, 2 * n_unets * channels, -1, bins])

        def forward(self, mix):
            skips, hidden = [], mix
            for weight, bias, groups, bn, activation in self.encoders:
                raw = functional.conv2d(
                    hidden, weight, bias, stride=2, padding=STRIDED_PADDING, groups=groups
                )
                skips.append(raw)
                hidden = activation(bn(raw))
            hidden = skips.pop()
            for index, (weight, bias, phase, bn, activation) in enumerate(self.decoders):
                if phase:
                    hidden = functional.conv2d(hidden, weight, bias, padding=1, groups=n_unets)
                    hidden = functional.pixel_shuffle(hidden, 2)
                else:
                    hidden = functional.conv2d_transpose(
                        hidden, weight, bias, stride=2, padding=STRIDED_PADDING, groups=n_unets
                    )
                hidden = bn(activation(hidden))
                if index < len(skips):
                    hidden = self.interleave(skips[-1 - index], hidden)
            logits = functional.conv2d(
                hidden, *self.head, padding=HEAD_PADDING, dilation=HEAD_DILATION, groups=n_unets
            )
            return paddle.stack(masks_times_mix(paddle.split(logits, n_unets, axis=1), mix), 1)

    def decode(unet, skips, hidden, split_concat: bool, data_format="NCHW"):
        channel_axis = 1 if data_format == "NCHW" else -1
        for index, block in enumerate(unet.decoder):
            if index == 0 or not split_concat:
                if block.phase_inference:
                    weight, bias = phase_weight(block)
                    hidden = functional.conv2d(
                        hidden, weight, bias, padding=1, data_format=data_format
                    )
                    hidden = functional.pixel_shuffle(hidden, 2, data_format=data_format)
                else:
                    hidden = functional.conv2d_transpose(
                        hidden, block.deconv.weight, block.deconv.bias, stride=2,
                        padding=STRIDED_PADDING, data_format=data_format,
                    )  # fmt: skip
            else:  # the concat's two halves through the two halves of the weights
                skip, hidden = hidden
                cut = skip.shape[1]
                if block.phase_inference:
                    weight, bias = phase_weight(block)
                    hidden = functional.conv2d(skip, weight[:, :cut], None, padding=1) + (
                        functional.conv2d(hidden, weight[:, cut:], bias, padding=1)
                    )
                    hidden = functional.pixel_shuffle(hidden, 2)
                else:
                    weight, bias = block.deconv.weight, block.deconv.bias
                    hidden = functional.conv2d_transpose(
                        skip, weight[:cut], None, stride=2, padding=STRIDED_PADDING
                    ) + functional.conv2d_transpose(
                        hidden, weight[cut:], bias, stride=2, padding=STRIDED_PADDING
                    )
            hidden = batch_norm(block.bn, block.activation(hidden), data_format)
            if index < len(skips):
                pair = (skips[-1 - index], hidden)
                hidden = pair if split_concat else paddle.concat(pair, axis=channel_axis)
        return hidden

    def unet_logits(unet, mix, split_concat=False, data_format="NCHW", first=None):
        skips, hidden = [], mix
        for index, block in enumerate(unet.encoder):
            if index == 0 and first is not None:
                raw, hidden = first
            else:
                raw = functional.conv2d(
                    hidden, block.conv.weight, block.conv.bias, stride=2,
                    padding=STRIDED_PADDING, data_format=data_format,
                )  # fmt: skip
                hidden = block.activation(batch_norm(block.bn, raw, data_format))
            skips.append(raw)
        hidden = decode(unet, skips, skips.pop(), split_concat, data_format)
        return functional.conv2d(
            hidden, unet.head.weight, unet.head.bias, padding=HEAD_PADDING,
            dilation=HEAD_DILATION, data_format=data_format,
        )  # fmt: skip

    class OverModel(nn.Layer):
        """A rewrite computed from ``model``'s own layers (their weights become the graph's)."""

        def __init__(self):
            super().__init__()
            self.source = model

    class SharedFirst(OverModel):
        def __init__(self):
            super().__init__()
            blocks = [unet.encoder[0] for unet in unets]
            self.weight = parameter(
                self, "first_w", paddle.concat([block.conv.weight for block in blocks])
            )
            self.bias = parameter(
                self, "first_b", paddle.concat([block.conv.bias for block in blocks])
            )
            self.bn = concatenated_bn([block.bn for block in blocks])

        def forward(self, mix):
            raw = functional.conv2d(mix, self.weight, self.bias, stride=2, padding=STRIDED_PADDING)
            hidden = unets[0].encoder[0].activation(self.bn(raw))
            pairs = zip(paddle.split(raw, n_unets, 1), paddle.split(hidden, n_unets, 1))
            logits = [unet_logits(unet, mix, first=pair) for unet, pair in zip(unets, pairs)]
            return paddle.stack(masks_times_mix(logits, mix), 1)

    class SplitConcat(OverModel):
        def forward(self, mix):
            logits = [unet_logits(unet, mix, split_concat=True) for unet in unets]
            return paddle.stack(masks_times_mix(logits, mix), 1)

    class MultiOutput(OverModel):
        def forward(self, mix):
            return masks_times_mix([unet(mix) for unet in unets], mix)

    class ChannelsLast(OverModel):
        def forward(self, mix):
            last = mix.transpose([0, 2, 3, 1])
            logits = [
                unet_logits(unet, last, data_format="NHWC").transpose([0, 3, 1, 2])
                for unet in unets
            ]
            return paddle.stack(masks_times_mix(logits, mix), 1)

    return {
        "grouped": Grouped(),
        "shared-first": SharedFirst(),
        "split-concat": SplitConcat(),
        "multi-output": MultiOutput(),
        "nhwc": ChannelsLast(),
    }


def predictor(layer, n_channels: int, n_bins: int, directory: Path) -> Callable:
    """``layer`` exported and run as the separator runs its graph (``save_graph``,
    ``PredictorRunner``), every output read; returns ``run(x) -> array``."""
    from spleeter_paddle.graph.convert import save_graph
    from spleeter_paddle.graph.runners import PredictorRunner

    save_graph(layer, n_channels, n_bins, directory / "graph")
    runner = PredictorRunner(directory / "graph")
    engine = runner.predictor
    outputs = [engine.get_output_handle(name) for name in engine.get_output_names()]

    def run(magnitude: np.ndarray) -> np.ndarray:
        runner.input.reshape(list(magnitude.shape))
        runner.input.copy_from_cpu(magnitude)
        engine.run()
        arrays = [output.copy_to_cpu() for output in outputs]
        return arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=1)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--params_filename", default="spleeter:2stems")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--repeats", type=int, default=8, help="timed runs per variant and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--only", nargs="+", default=None, help="variants to run")
    args = parser.parse_args()

    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.pretrained.weights import load_pretrained_model
    from spleeter_paddle.runtime import paddle

    params = load_configuration(args.params_filename)
    model = load_pretrained_model(params, model_dir=args.model_dir)
    n_channels, n_bins = params["n_channels"], params["F"]
    magnitude = (
        10.0 ** np.random.default_rng(0).uniform(-4, np.log10(300.0), (1, n_channels, 512, n_bins))
    ).astype(np.float32)
    print(f"{args.params_filename}, one 512-frame segment, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch, paddle.no_grad():
        runs, notes = {}, {}
        candidates = {"shipped": model, **variants(model)}
        for name, layer in candidates.items():
            if args.only and name != "shipped" and name not in args.only:
                continue
            directory = Path(scratch) / name
            directory.mkdir()
            try:
                runs[name] = predictor(layer, n_channels, n_bins, directory)
                runs[name](magnitude)  # warm-up; also where oneDNN refuses a graph
            except Exception as error:  # report the refusal, go on with the others
                runs.pop(name, None)
                notes[name] = f"refused: {str(error).strip().splitlines()[-1][:150]}"
        reference = runs["shipped"](magnitude)
        times: Dict[str, List[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    run(magnitude)
                    times[name].append(time.perf_counter() - started)
        base = float(np.median(times["shipped"]))
        print(f"{'variant':14} {'median ms':>10} {'vs shipped':>11} {'max |diff|':>11}")
        for name in candidates:
            if name in notes:
                print(f"{name:14} {notes[name]}")
            elif name in runs:
                median = float(np.median(times[name]))
                diff = float(np.abs(runs[name](magnitude) - reference).max())
                print(f"{name:14} {1e3 * median:10.1f} {median / base - 1:+11.1%} {diff:11.2e}")


if __name__ == "__main__":
    main()
