"""Hyper-parameters chosen from the data when the user leaves them unset; every choice is overridable."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.config import RunConfig
from tunelab.tasks.spec import get_spec

# A 1e-4 peak under-fitted Banking77 in 4 epochs (dev accuracy 0.68, 0.83, 0.88 after epochs 1-3,
# still rising): small encoders like MiniLM take a higher rate; the best dev checkpoint is kept anyway.
LEARNING_RATES = {"full": 2e-4, "lora": 5e-4, "adalora": 1e-3, "probe": 2e-3}
# Full fine-tuning of deeper encoders diverges at that rate: multilingual-e5-small (12 layers x 384) on
# ChnSentiCorp (1,000 examples, 1 epoch) stayed at chance with 2e-4 (test 0.507) and reached 0.833 with 3e-5
# (LoRA at 2e-4: 0.750), in line with the 2e-5..5e-5 that BERT-base-sized models are usually tuned with.
# So encoders deeper than MiniLM's 6 layers get 3e-5 for full fine-tuning; adapters keep their rates (only
# their few new weights move).
SHALLOW_LAYERS = 6
# The few-shot recipe (training/fewshot.py) takes over when the median and the mean of training examples per class
# are both at or below this: SetFit's published gains over fine-tuning are at 8-64 examples per class; the issue
# asks for 8-16. (The median alone sent 1,386 imbalanced active-learning picks on Banking77 to the recipe: 0.758
# against 0.884 for the loop on the same examples.)
FEW_SHOT_MEDIAN = 16.0
# ... and at most this many training examples in all. Banking77 intents at 10 questions each, MiniLM, seed 0 (seeds
# 0 and 1 for all 77), test accuracy few-shot recipe / loop: 10 intents (90 training examples) 0.908 / 0.775,
# 30 (270) 0.872 / 0.839, 50 (450) 0.835 / 0.800, 77 (693) 0.788 / 0.813 and 0.767 / 0.820 (benchmarks/RESULTS.md,
# "Few-shot: the recipe against the loop"). Twitter sentiment (3 classes, 24 and 48): the recipe by 14-16 points.
# The margin crosses zero between 450 and 693; 512 is a round number under the crossing.
FEW_SHOT_MAX_EXAMPLES = 512
DEEP_FULL_LR = 3e-5
# Differential privacy (--privacy dp). At TuneLab's non-private defaults (full, batch 32, lr 2e-4) every DP run on
# 2,000 Twitter financial news tweets (MiniLM, 3 epochs) stayed at the majority class, at ε = 1, 3 and 8; LoRA at
# an expected batch of 256 and lr 5e-3 diverged (loss 2.3 in epoch 2), its process at 9.3 GB resident; at 128 and
# the papers' 1e-3 it stayed at the majority class (0.649, ε = 8).
# The noise's share of a step grows with the number of trained weights, so DP trains the head alone (1,155 weights
# for MiniLM's 3 classes) on the encoder's mean-pooled sentence embedding (models/pooling.py), in Poisson batches
# of about n/16 examples (Li et al. 2022 and Yu et al. 2022: DP wants large batches) at a large rate. Swept with the
# same DP-SGD on the frozen embeddings (ε = 8, 3 epochs, test accuracy, mean of 3-6 seeds): batch 64/128/256 at
# lr 0.1 gave 0.727/0.723/0.721 and lr 0.03 stayed near the majority (0.649-0.672); batch 128 at lr 0.2 gave 0.729
# clipping at 1.0 and 0.732 at 0.5 (train.dp_max_grad_norm's default), lr 0.5 0.724; without the noise the same
# steps reach 0.756-0.764, and a converged logistic regression on the embeddings 0.779. The first TuneLab run on
# these defaults (clipping at 1.0) tested 0.717 at ε = 8, bench-dp-quick's (at 0.5) 0.729. The adapters' and full
# fine-tuning's DP rates are the papers' (unmeasured here): they apply when the user picks those methods.
DP_METHOD = "probe"
DP_LEARNING_RATES = {"full": 5e-4, "lora": 1e-3, "adalora": 1e-3, "probe": 0.2}
DP_BATCHES_PER_EPOCH = 16
DP_BATCH_LIMITS = (64, 1024)


# The word-embedding matrix is half of MiniLM's weights (11.7M of 22.7M) and a fine-tuning step barely moves its
# rows; its dense gradient, clipping and fused AdamW update cost 16% of a CPU step (batch 32 x 24 tokens, one
# thread: 253 -> 213 ms with it frozen). In the full bench-train run of 2026-12-05 freezing it made TuneLab 1.20x
# faster on Banking77 and CoNLL-2003 at test 0.9260 / F1 0.8680 against 0.9292 / 0.8643 trained (one seed). So full
# fine-tuning of an encoder of at most SHALLOW_LAYERS layers freezes a matrix of at least
# FREEZE_WORD_EMBEDDINGS_FROM weights unless told to train it. A small matrix costs little to train (and a randomly
# initialised test model cannot learn without it). Deeper encoders keep training it: on multilingual-e5-small (96M
# of its 118M weights) a 128-token probe ran 2.4x faster frozen, but the quick ChnSentiCorp run (488 tokens) gained
# no visible speed and tested 0.8650 against 0.8875 trained (dev 0.890 / 0.893; 400 test reviews, one seed).
FREEZE_WORD_EMBEDDINGS_FROM = 1_000_000

# Full fine-tuning of an encoder of at most SHALLOW_LAYERS layers also freezes its embeddings and bottom layers and
# caches their output after the first epoch, so later epochs start above them. Full data sets, MiniLM, one seed,
# 2026-12-05: Banking77 with 2 of 6 layers frozen tested 0.9299 (dev 0.930) against 0.9260 with none; CoNLL-2003
# lost more with 2 (F1 0.8530, dev 0.896) than with 1 (0.8639, dev 0.904) against 0.8680 (dev 0.907) with none:
# tagging each word leans on the lower layers more. So a third of the layers for text labels, a sixth for word
# labels. Speed and the same-run comparison: make bench-train, benchmarks/RESULTS.md.
FROZEN_BOTTOM_SHARE = 1 / 3
FROZEN_BOTTOM_SHARE_PER_TOKEN = 1 / 6

# ... and none for word labels from ALL_LAYERS_PER_TOKEN_FROM sentences. With the dropout-free default for them
# (below), MiniLM on all of CoNLL-2003 (14,041 sentences, 3 epochs, 2026-12-07, AMD EPYC avx512_bf16) tested F1
# 0.8608 / 0.8589 (seeds 42 / 1) with its bottom layer frozen and 0.8664 / 0.8633 with every layer trained (dev
# 0.9054 / - against 0.9058 / 0.9048), at 0.88x the training samples/s (198.5 -> 174.0, seed 42, same session): the
# frozen layer did not hold accuracy. On 2,000 of its sentences it did (F1 0.8128 / 0.8137 frozen, 0.8147 / 0.8150
# not; dev 0.8510 / 0.8469 against 0.8480 / 0.8504) and saved 15-18% of the time, so it stays below the line, drawn
# between the two sizes measured. benchmarks/RESULTS.md, "Every layer for a label per word".
ALL_LAYERS_PER_TOKEN_FROM = 10000
# ... and none for a single label per text with fewer than FROZEN_BOTTOM_FROM_CLASSES classes. MiniLM, TuneLab's
# defaults otherwise, test accuracy with the bottom 2 of 6 layers frozen / every layer trained, 2026-12-07 (Intel Xeon
# with AMX; benchmarks/RESULTS.md, "Frozen layers and few classes"): Twitter financial news (3 classes), all 9,543
# tweets, seeds 42 / 1: 0.8664 / 0.8681 frozen, 0.8706 / 0.8790 trained, where a careful Trainer recipe (every weight,
# lr 1e-4, 4 epochs, batch 32, bf16) scored 0.8685 / 0.8773: frozen, the defaults landed 0.56 points under it (mean of
# the seeds), trained 0.19 over, at 0.68-0.72x the samples/s; on 2,000 tweets (seeds 0 / 1) 0.8283 / 0.8237 frozen,
# 0.8321 / 0.8258 trained. Banking77 (77 classes) went the other way (0.9380 / 0.9351 frozen, 0.9331 / 0.9308 trained;
# RESULTS.md, "The same question for a label per text"), so the line sits at LogitNorm's and the few-class learning
# rate's. Banking77 subsets in between (2026-12-08, seeds 42 / 1; RESULTS.md, "Between 3 and 77 classes"): 10 intents
# 0.9725 / 0.9750 frozen against 0.9775 / 0.9750 trained; 40 intents 0.9425 / 0.9400 against 0.9438 / 0.9400, at
# 1.55x the samples/s frozen: a cost under the line, none from about 40 up.
FROZEN_BOTTOM_FROM_CLASSES = 20

# The words' case for a label per word through a lowercasing tokenizer (models/casing.py). MiniLM, every layer
# trained, 2026-12-07 (AMD EPYC avx512_bf16), test F1 without -> with it (seeds 42 / 1): 2,000 CoNLL-2003 sentences
# 0.8147 / 0.8150 -> 0.8362 / 0.8465 (dev 0.8480 / 0.8504 -> 0.8702 / 0.8696); all 14,041 0.8664 / 0.8633 ->
# 0.8837 / 0.8806 (dev 0.9054 / 0.9048 -> 0.9293 / 0.9264). The case rows learn in the embeddings, so the bottom
# layers cannot stay frozen and cached with it; on 2,000 sentences, where one frozen layer is the default without
# it, that layer held 0.8128 / 0.8137, two to three points under the case. benchmarks/RESULTS.md, "The words' case
# for a label per word".


def choose_case_feature(given: str, method: str, per_token: bool, private: bool, capable: bool,
                        frozen_layers: int | None) -> str:
    """on for full fine-tuning without DP on a label per word when the tokenizer lowercases and the encoder has a
    token-type table (`capable`) and no frozen bottom layers were asked for; "always" or "never" as given."""
    if given != "auto":
        return given
    use = capable and per_token and method == "full" and not private and not frozen_layers
    return "always" if use else "never"


def _model_config(folder: Path) -> dict[str, object]:
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def model_depth(folder: Path) -> int | None:
    """The number of transformer layers a model folder's config.json declares (None when it cannot tell)."""
    return _count(_model_config(folder).get("num_hidden_layers"))


# Encoder families whose base model has `embeddings` and a list of layers where training/frozen_bottom.py finds
# them; auto freezes bottom layers only in these (a value given by the user is tried on any model).
FREEZABLE_MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "mpnet", "electra", "distilbert"})


def bottom_freezable(folder: Path) -> bool:
    """Whether a model folder's config.json names an encoder family whose bottom layers can be frozen and cached."""
    return _model_config(folder).get("model_type") in FREEZABLE_MODEL_TYPES


def case_capable(folder: Path, tokenizer: Any) -> bool:
    """Whether the case feature (models/casing.py) can serve a model folder: its tokenizer lowercases and its
    config.json describes a token-type table."""
    from tunelab.models.casing import has_type_embeddings, lowercases

    return has_type_embeddings(_model_config(folder)) and lowercases(tokenizer)


def word_embedding_weights(folder: Path) -> int | None:
    """Vocabulary x embedding width from a model folder's config.json (None when it cannot tell)."""
    config = _model_config(folder)
    vocabulary, width = _count(config.get("vocab_size")), _count(config.get("embedding_size") or
                                                                 config.get("hidden_size"))
    return vocabulary * width if vocabulary and width else None


def choose_word_embeddings(given: str, embedding_weights: int | None, layers: int | None,
                           frozen_layers: int = 0) -> str:
    if given != "auto":
        return given
    if frozen_layers:  # frozen bottom layers freeze the embeddings with them
        return "freeze"
    shallow = layers is not None and layers <= SHALLOW_LAYERS
    return "freeze" if shallow and (embedding_weights or 0) >= FREEZE_WORD_EMBEDDINGS_FROM else "train"


def choose_frozen_layers(given: int | None, method: str, layers: int | None, word_embeddings: str = "auto",
                         per_token: bool = False, private: bool = False, n_train: int = 0,
                         case_feature: str = "never", classes: int | None = None) -> int:
    """Bottom layers to freeze and cache (training/frozen_bottom.py) in full fine-tuning of an encoder of at most
    SHALLOW_LAYERS layers: a third of them for a label per text (but none for a single-label classifier with fewer
    than FROZEN_BOTTOM_FROM_CLASSES `classes`; None: not single-label, or unknown), a sixth for a label per word
    under ALL_LAYERS_PER_TOKEN_FROM training sentences; none when the word embeddings were asked to train, with the
    case feature (its rows train in the embeddings), or under DP (which refuses a given value:
    training/privacy.py)."""
    if given is not None:
        return given
    if method != "full" or private or layers is None or layers > SHALLOW_LAYERS or word_embeddings == "train" \
            or case_feature == "always":
        return 0
    if per_token and n_train >= ALL_LAYERS_PER_TOKEN_FROM:
        return 0
    if classes is not None and classes < FROZEN_BOTTOM_FROM_CLASSES:
        return 0
    return int(layers * (FROZEN_BOTTOM_SHARE_PER_TOKEN if per_token else FROZEN_BOTTOM_SHARE))


# LogitNorm (training/logit_norm.py) for full fine-tuning of single-label classifiers with many classes on small
# encoders. MiniLM, TuneLab's other defaults, one run per cell, 2026-12-06 (AMD EPYC, avx512_bf16; test accuracy,
# cross-entropy -> LogitNorm at tau 0.04): Banking77 (77 classes) 2,310 questions 0.877 -> 0.891 and 3,850
# 0.901 -> 0.914 (benchmarks/probe_batch.py, seed 0); all 10,003, seed 42: higher after every epoch (after the
# last 0.929 -> 0.938), the best-dev checkpoint 0.938 in one run but 0.924 (epoch 4) against 0.927 in bench-train's,
# where keeping the latest checkpoint within dev's noise (train.keep_checkpoint) reports 0.938 against 0.929
# (benchmarks/RESULTS.md); the assistant's quick classifier (67 intents x 40 questions) 0.858 -> 0.909. But
# Twitter financial news (3 classes), 3,000 tweets: 0.837 -> 0.832. So it is the default from
# LOGIT_NORM_FROM_CLASSES classes, a line drawn between the two data sets measured. Banking77 subsets in between
# (2026-12-08, seeds 42 / 1, RESULTS.md "Between 3 and 77 classes"): 40 intents 0.9425 / 0.9400 with LogitNorm
# against 0.9350 / 0.9388; 10 intents 0.9825 / 0.9725 against 0.9775 / 0.9750 (mixed: two and one questions). Deeper
# encoders (unmeasured) keep the cross-entropy; so do adapters, whose wrapped head takes no folded temperature.
LOGIT_NORM_FROM_CLASSES = 20


# The average of the trained weights (train.ema_decay, training/weight_average.py). MiniLM, TuneLab's defaults, seed
# 42, test metric of the checkpoint kept after each epoch, without / with the average at decay 0.99 (`bench_train.py
# --mode full --best-only --tunelab-ablations --ablation tunelab_no_average`, Intel Xeon with AMX, 2026-12-07;
# benchmarks/RESULTS.md, "The weight average"): Banking77 (6 epochs) 0.873 / 0.916,
# 0.908 / 0.931, 0.920 / 0.935, 0.929 / 0.937, 0.939 / 0.935, 0.937 / 0.937; CoNLL-2003 F1 (3 epochs) 0.867 / 0.870,
# 0.881 / 0.885, 0.891 / 0.891. The average leads while the learning rate is high and the trained weights catch up as
# it decays, so dev evaluations keep the average and the last one the better of the two. Full fine-tuning only:
# adapters and probes were not measured, and DP keeps its last weights.
EMA_DECAY = 0.99


def choose_ema_decay(given: float | None, method: str, private: bool) -> float:
    """The weight average's decay: as given, else EMA_DECAY for full fine-tuning without DP, else 0 (off)."""
    if given is not None:
        return given
    return EMA_DECAY if method == "full" and not private else 0.0


def choose_loss(given: str, method: str, single_label: bool, private: bool, layers: int | None = None,
                classes: int | None = None) -> str:
    """LogitNorm for full fine-tuning of a single-label classifier with at least LOGIT_NORM_FROM_CLASSES classes on
    an encoder of at most SHALLOW_LAYERS layers (not under DP, whose probe trains a head alone); cross-entropy
    otherwise. `given` other than auto is kept where it applies: other tasks train with their own loss, so the
    resolved config says cross_entropy for them."""
    if not single_label:
        return "cross_entropy"
    if given != "auto":
        return given
    shallow = layers is not None and layers <= SHALLOW_LAYERS
    many = classes is not None and classes >= LOGIT_NORM_FROM_CLASSES
    return "logit_norm" if method == "full" and shallow and many and not private else "cross_entropy"


# Full fine-tuning of a small encoder with fewer than LOGIT_NORM_FROM_CLASSES classes (single-label, so the
# cross-entropy) peaks at FEW_CLASS_FULL_LR instead. MiniLM, TuneLab's defaults otherwise, test accuracy at 2e-4 / 1e-4
# (benchmarks/RESULTS.md, "The learning rate of few-class classifiers"): Twitter financial news (3 classes), 2,000
# tweets (batch 16) 0.748 / 0.830 at seed 42, 0.727 / 0.815 at seed 1 (at 2e-4 the training loss never came down
# at seed 42) and 0.830 / 0.813 at seed 2 (another sample): mean 0.768 / 0.819, 2e-4 failing to fit on two runs of
# three; all 9,543 tweets (batch 32) 0.8685 / 0.8664. The held-out question-type set (6 classes):
# TuneLab's defaults at 2e-4 scored 0.954 where a Trainer recipe at 1e-4 scored 0.968. Many classes want the higher
# rate: Banking77 (77 classes) 2,310 questions with LogitNorm 0.8925 / 0.8867, 3,000 with the cross-entropy 0.877 /
# 0.757; CoNLL-2003 (a label per word, 2,000 sentences) F1 0.815 / 0.804: they keep 2e-4. The line sits at the
# LogitNorm one: the learning rate was not measured between 3 and 67 classes (the Banking77 subsets at 10 and 40
# intents ran at these defaults).
FEW_CLASS_FULL_LR = 1e-4


def choose_lr(method: str, layers: int | None = None, classes: int | None = None) -> float:
    """The peak learning rate for `method`; full fine-tuning of encoders deeper than 6 layers takes 3e-5, of smaller
    ones with a single label per text from fewer than LOGIT_NORM_FROM_CLASSES `classes` 1e-4 (None: not a
    single-label classifier, or unknown)."""
    if method == "full" and layers is not None and layers > SHALLOW_LAYERS:
        return DEEP_FULL_LR
    if method == "full" and classes is not None and classes < LOGIT_NORM_FROM_CLASSES:
        return FEW_CLASS_FULL_LR
    return LEARNING_RATES[method]


# Full fine-tuning of a small encoder on a label per word trains without dropout from NO_DROPOUT_PER_TOKEN_FROM
# sentences. The dropout layers took about 13% of a CoNLL-2003 training step on CPU (their masks and scaling,
# forward and backward; sampled with py-spy). MiniLM on all of CoNLL-2003 (14,041 sentences, 3 epochs, one run per
# cell, 2026-12-06, AMD EPYC avx512_bf16) tested as well without it: F1 0.8595 -> 0.8608 at seed 42 and 0.8581 ->
# 0.8589 at seed 1, training samples/s 1.17x and 1.14x. On 2,000 of its sentences it lost a point (0.8128 ->
# 0.8030), so the line sits between the two sizes measured (nothing between 2,000 and 14,041 was). A label per text
# keeps the base model's dropout: all of Banking77 tested 0.9380 with it and 0.9347 without (1.12x faster).
# benchmarks/RESULTS.md, "Dropout for a label per word".
NO_DROPOUT_PER_TOKEN_FROM = 10000


def choose_dropout(given: float | None, method: str, per_token: bool, layers: int | None, n_train: int,
                   private: bool = False) -> float | None:
    """0 for full fine-tuning (not under DP) of an encoder of at most SHALLOW_LAYERS layers on a label per word with
    at least NO_DROPOUT_PER_TOKEN_FROM training sentences; otherwise `given` (None: the base model's own)."""
    if given is not None or private or method != "full" or not per_token or layers is None or layers > SHALLOW_LAYERS:
        return given
    return 0.0 if n_train >= NO_DROPOUT_PER_TOKEN_FROM else None


EPOCHS_BY_SIZE = ((500, 15), (2000, 10), (5000, 8), (20000, 6), (50000, 4))


# Deep encoders fully fine-tuned at DEEP_FULL_LR take the usual BERT recipe's few passes (2-4 epochs, Devlin et
# al. 2019): on ChnSentiCorp (1,000 reviews, multilingual-e5-small) the best dev accuracy came at epoch 3 of 6
# and the last three epochs only ran out the early-stopping patience.
DEEP_FULL_EPOCHS = 3


def choose_epochs(n_train: int, task: str = "classification", deep_full: bool = False) -> int:
    """More passes over small data sets, with early stopping as the guard against over-fitting; a task whose
    examples carry a label per word needs fewer (its spec's `epoch_divisor`); full fine-tuning of an encoder
    deeper than 6 layers (`deep_full`) at most DEEP_FULL_EPOCHS."""
    epochs = next((e for limit, e in EPOCHS_BY_SIZE if n_train < limit), 3)
    epochs = max(3, epochs // get_spec(task).epoch_divisor)
    return min(epochs, DEEP_FULL_EPOCHS) if deep_full else epochs


# Batch 16 below this many training examples (after the dev split), 32 from it. The limit was 2,000, where the step
# count fell 2.5x (10 epochs of 16 to 8 of 32): the active-learning curves dipped there (Banking77, 1,540 -> 2,310
# labels: 0.855 -> 0.824 and 0.860 -> 0.854), and a 2,310-question Banking77 sample (2,079 after the dev split; seed
# 0, one run each, MiniLM) tested 0.8451 at batch 32 (520 steps) against 0.8773 at 16. Larger samples tested alike
# (3,850 questions: 0.9013 / 0.9032; 4,620: 0.9088 / 0.9127; 5,390: 0.9211 / 0.9240) while batch 16 took 16-28% longer
# on them, so 16 stops at 3,000. benchmarks/probe_batch.py, benchmarks/RESULTS.md.
BATCH_32_FROM = 3000


def choose_batch_size(n_train: int) -> int:
    return 16 if n_train < BATCH_32_FROM else 32


def choose_dp_batch_size(n_train: int) -> int:
    """DP's expected batch: a power of two near n / DP_BATCHES_PER_EPOCH, within DP_BATCH_LIMITS."""
    size = 2 ** round(math.log2(max(1.0, n_train / DP_BATCHES_PER_EPOCH)))
    low, high = DP_BATCH_LIMITS
    return int(min(high, max(low, size)))


def dp_defaults_taken(config: RunConfig) -> tuple[str, ...]:
    """The settings a DP run takes from DP's own defaults (the user left them unset); () when not private."""
    if config.train.privacy != "dp":
        return ()
    train = [name for name in ("method", "batch_size", "lr") if getattr(config.train, name) is None]
    frozen = (config.train.method or DP_METHOD) == "probe" and config.model.dropout is None
    return (*train, *(("dropout",) if frozen else ()))


def choose_max_length(token_lengths: Sequence[int], model_limit: int) -> int:
    """Cover 99.5% of the training texts, rounded up to a multiple of 8, within the model's limit."""
    if not token_lengths:
        return min(128, model_limit)
    covered = int(np.percentile(np.asarray(token_lengths), 99.5))
    return int(min(model_limit, max(16, math.ceil(covered / 8) * 8)))


def resolve_defaults(config: RunConfig, n_train: int, token_lengths: Sequence[int],
                     model_limit: int, layers: int | None = None, embedding_weights: int | None = None,
                     freezable: bool = True, classes: int | None = None, case_capable: bool = False) -> RunConfig:
    """A copy of `config` with every None (or auto) hyper-parameter filled in (`layers`: the base model's depth;
    `embedding_weights`: the size of its word-embedding matrix; `freezable`: its bottom layers can be frozen;
    `case_capable`: its tokenizer lowercases and it has a token-type table, models/casing.py)."""
    train, private, spec = config.train, config.train.privacy == "dp", get_spec(config.data.task)
    method = train.method or (DP_METHOD if private else "full")
    label_classes = classes if spec.single_label else None  # a class count only where a text takes one of them
    case = choose_case_feature(config.model.case_feature, method, spec.per_token, private, case_capable,
                               train.frozen_layers)
    frozen = choose_frozen_layers(train.frozen_layers, method, layers if freezable else None, train.word_embeddings,
                                  spec.per_token, private, n_train, case, label_classes)
    train = replace(
        train,
        method=method,
        epochs=train.epochs or choose_epochs(n_train, config.data.task,
                                             deep_full=method == "full" and (layers or 0) > SHALLOW_LAYERS),
        batch_size=train.batch_size or (choose_dp_batch_size(n_train) if private else choose_batch_size(n_train)),
        lr=train.lr or (DP_LEARNING_RATES[method] if private
                        else choose_lr(method, layers, label_classes)),
        few_shot_threshold=train.few_shot_threshold or FEW_SHOT_MEDIAN,
        few_shot_max_examples=train.few_shot_max_examples or FEW_SHOT_MAX_EXAMPLES,
        frozen_layers=frozen,
        word_embeddings=choose_word_embeddings(train.word_embeddings, embedding_weights, layers, frozen),
        loss=choose_loss(train.loss, method, spec.single_label, private, layers, classes),
        ema_decay=choose_ema_decay(train.ema_decay, method, private),
    )
    # a frozen encoder's dropout only blurs the features the private head learns from
    dropout = 0.0 if "dropout" in dp_defaults_taken(config) else \
        choose_dropout(config.model.dropout, method, spec.per_token, layers, n_train, private)
    model = replace(config.model, max_length=config.model.max_length
                    or choose_max_length(token_lengths, model_limit), dropout=dropout, case_feature=case)
    return replace(config, train=train, model=model)
