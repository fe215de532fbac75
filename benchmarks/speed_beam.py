"""Speed section ``beam``: beam search against greedy decoding, sentences/s by batch size.

The model has the widths and vocabularies of ``configs/translation_sample.yaml`` (learned from
the bundled spa-eng sample) and is trained briefly on that sample (:data:`EPOCHS`): enough for
it to end its sentences where the data does, so decoding lengths are realistic (an untrained
model never emits the end token, and how early the search stops is half of what is measured).

- ``by_batch`` (the goal's figures): the translate functions that ``evaluate`` and the export
  run (strings in, strings out: vectorise, decode, detokenise), ``decoding.beam_size``,
  ``length_penalty`` and ``max_length`` of the config, on the sample's validation sources
  sorted by length as ``evaluate`` batches them, at batch 1, 32 and 128. Beam and greedy are
  timed interleaved and repeated in this process (``speed_timing.compare``); the ratio is
  beam sentences/s over greedy sentences/s, paired round by round, median.
- ``at_128``: the decoding alone (source ids in, ``Seq2SeqTranslator.encode`` + search) at batch
  128, greedy against beam search with and without compaction (sources whose hypotheses have
  all finished leaving the decoder's batch), on the same sources, and again with the end token
  banned: every hypothesis then runs ``max_length`` steps, nothing finishes early, nothing can
  be compacted — beam's worst case, where its cost is K decoder rows per sentence for greedy's one.

Absolute sentences/s are context for the machine they were measured on; ratios are the figures.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.speed_timing import compare, progress

ROOT = Path(__file__).resolve().parent.parent
BATCHES = (1, 32, 128)
GOAL = 0.4  # beam sentences/s ≥ 0.4 × greedy's at batch 128 (issue 14)
EPOCHS = {True: 1, False: 3}  # brief training on the sample (quick, full)
SENTENCES = {True: 256, False: 500}  # decoded per arm and round (batch 1: a quarter)
REPEATS = {True: 3, False: 7}


say = progress("speed beam")


def _trained(tmp: Path, quick: bool):
    """The sample config trained for a few epochs: (model, cfg, info, sources sorted by
    length, figures about the training)."""
    import numpy as np

    from data.translation_corpus import load_split
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task("translation")
    config = ROOT / task.sample_config
    sets = [f"train.epochs={EPOCHS[quick]}", "train.early_stopping_patience=0"]
    cfg = load_config(task.config_class, config, sets)
    started = time.perf_counter()
    run_dir = runner.train(task, cfg, tmp / "translation")
    train_s = time.perf_counter() - started
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    sources = load_split(cfg.data, "validation").sources
    sources = [sources[i] for i in np.argsort([len(s) for s in sources], kind="stable")]
    count = min(SENTENCES[quick], len(sources))
    # Evenly over the length order, then in that order: short and long sentences both.
    picked = [sources[i] for i in np.linspace(0, len(sources) - 1, count).astype(int)]
    trained = {
        "config": str(config.relative_to(ROOT)),
        "epochs": EPOCHS[quick],
        "train_seconds": round(train_s, 1),
        "source_vocabulary": len(info.source_vocabulary),
        "target_vocabulary": len(info.target_vocabulary),
        "beam_size": cfg.decoding.beam_size,
        "length_penalty": cfg.decoding.length_penalty,
        "max_length": cfg.decoding.max_length,
    }
    return model, cfg, info, picked, trained


def _batches(sources: list[str], size: int) -> list[Any]:
    import numpy as np
    import tensorflow as tf

    return [
        tf.constant(np.array(sources[i : i + size], dtype=object))
        for i in range(0, len(sources), size)
    ]


def _mean_length(translate, batches) -> float:
    """Mean output tokens (end token included) over ``batches``."""
    import numpy as np

    counts = [np.count_nonzero(translate(b)["tokens"].numpy(), axis=1) for b in batches]
    return round(float(np.concatenate(counts).mean()), 2)


def _paired(result: dict[str, Any], count: int, arms: list[str]) -> dict[str, Any]:
    """Sentences/s of each arm (median) and each arm's throughput over greedy's (median of
    the round-by-round ratios)."""
    return {
        "sentences_per_s": {a: round(count / result["median_s"][a], 1) for a in arms},
        "throughput_vs_greedy": {a: round(1.0 / result["ratio"][a], 3) for a in arms},
        "median_s": result["median_s"],
        "repeats": result["repeats"],
    }


def by_batch(model, cfg, info, sources: list[str], quick: bool) -> dict[str, Any]:
    """Greedy and beam translate functions (strings → strings) at each batch size."""
    from pipelines.translation.serving import translate_functions

    greedy, beam = translate_functions(model, cfg, info)
    out: dict[str, Any] = {}
    for size in BATCHES:
        batches = _batches(sources, size)
        # One size-1 call per sentence costs a few ms: fewer sentences keep rounds short.
        if size == 1:
            batches = batches[::4]
        count = sum(int(b.shape[0]) for b in batches)
        arms = {
            "greedy": lambda fn=greedy, bs=batches: [fn(b)["score"].numpy() for b in bs],
            "beam": lambda fn=beam, bs=batches: [fn(b)["score"].numpy() for b in bs],
        }
        say(f"batch {size}: {count} sentences, {len(batches)} calls per arm")
        result = compare(arms, repeats=REPEATS[quick], warmup=1)
        out[str(size)] = {
            "sentences": count,
            **_paired(result, count, ["greedy", "beam"]),
            "mean_output_tokens": {
                "greedy": _mean_length(greedy, batches),
                "beam": _mean_length(beam, batches),
            },
        }
    return out


def at_128(model, cfg, info, sources: list[str], quick: bool) -> dict[str, Any]:
    """Decoding alone at batch 128: greedy, beam with and without compaction; with the end
    token allowed (as configured) and banned (fixed length)."""
    import tensorflow as tf

    from data.text_vectorizer import pad_batch
    from data.translation_text import END_ID, START_ID, texts_to_ids
    from models.beam_search import beam_search, greedy_search
    from pipelines.translation.serving import banned_ids, source_vectorizer

    d = cfg.decoding
    vectorizer = source_vectorizer(cfg, info)
    batches = [
        pad_batch(texts_to_ids(b, vectorizer)[:, : cfg.data.max_source_length])
        for b in _batches(sources, 128)
    ]
    count = sum(int(b.shape[0]) for b in batches)

    def search(kind: str, banned: tuple[int, ...]):
        common = dict(start_id=START_ID, end_id=END_ID, max_length=d.max_length, banned_ids=banned)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], autograph=False)
        def run(ids):
            states, constants = model.encode(ids)
            if kind == "greedy":
                return greedy_search(model.decode_step, states, constants, **common)["scores"]
            return beam_search(
                model.decode_step,
                states,
                constants,
                beam_size=d.beam_size,
                length_penalty=d.length_penalty,
                compact=kind == "beam",
                **common,
            )["scores"]

        return lambda: [run(ids).numpy() for ids in batches]

    out: dict[str, Any] = {"sentences": count}
    settings = {"sample_lengths": banned_ids(d), "fixed_length": (*banned_ids(d), END_ID)}
    for name, banned in settings.items():
        arms = {kind: search(kind, banned) for kind in ("greedy", "beam", "beam_uncompacted")}
        say(f"batch 128, decoding alone, {name}")
        result = compare(arms, repeats=REPEATS[quick], warmup=1)
        out[name] = _paired(result, count, list(arms))
    return out


def measure(quick: bool) -> dict[str, Any]:
    """The section's figures (see the module doc)."""
    from pipelines.spine import quiet

    quiet.configure(False)
    quiet.load_tensorflow(False)
    with tempfile.TemporaryDirectory(prefix="speed-beam-") as tmp:
        say(f"training the sample config for {EPOCHS[quick]} epoch(s)")
        model, cfg, info, sources, trained = _trained(Path(tmp), quick)
        batch = by_batch(model, cfg, info, sources, quick)
        alone = at_128(model, cfg, info, sources, quick)
    ratio = batch["128"]["throughput_vs_greedy"]["beam"]
    figures = [
        {
            "name": f"beam/greedy sentences/s, batch {size}",
            "value": batch[str(size)]["throughput_vs_greedy"]["beam"],
        }
        for size in BATCHES
        if size != 128
    ]
    labels = {  # (setting, arm) → figure name (the table shows ~60 characters)
        ("sample_lengths", "beam"): "search only",
        ("sample_lengths", "beam_uncompacted"): "search only, uncompacted",
        ("fixed_length", "beam"): "search only, fixed length",
        ("fixed_length", "beam_uncompacted"): "fixed length, uncompacted",
    }
    figures += [
        {
            "name": f"beam/greedy, batch 128, {label}",
            "value": alone[name]["throughput_vs_greedy"][arm],
        }
        for (name, arm), label in labels.items()
    ]
    return {
        "model": trained,
        "by_batch": batch,
        "at_128": alone,
        "goals": [
            {
                "name": "beam/greedy sentences/s at batch 128",
                "value": ratio,
                "op": ">=",
                "target": GOAL,
            }
        ],
        "figures": figures,
        "notes": (
            "Translate functions (strings in and out) of the sample config's model trained "
            f"{EPOCHS[quick]} epoch(s) on the bundled sample; validation sources sorted by "
            "length. Ratios are beam throughput over greedy's, paired round by round "
            "(interleaved, medians). fixed_length bans the end token: no early stop, nothing "
            "to compact (beam's worst case)."
        ),
    }
