"""The predict path, readable in one place: resolve the version -> load it (LRU) -> micro-batch -> forward pass
-> log every prediction -> answer (-> a shadow challenger, if the loop holds one, scores the texts afterwards)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunelab.errors import UsageError
from tunelab.privacy.policies import Redactors
from tunelab.privacy.redactor import redact_output
from tunelab.registry import ModelRef, PredictionRecord, Store, VersionInfo
from tunelab.serving.auth import Caller, UsageMeter
from tunelab.serving.batcher import Job, MicroBatcher
from tunelab.serving.metrics import Metrics
from tunelab.serving.models import LoadedModel, ModelCache
from tunelab.serving.routing import RouteCache
from tunelab.serving.settings import ServeSettings
from tunelab.serving.shadowing import Shadowing

if TYPE_CHECKING:
    from tunelab.inference.explain import Explanation

log = logging.getLogger("tunelab.serve")
EXPLAIN_MAX_TEXTS = 16  # attributions cost a few forward and backward passes per text: predict with explain caps it


@dataclass(frozen=True)
class Served:
    """The answer to one predict request."""

    version: VersionInfo
    outputs: list[dict[str, Any]]  # one per input text, each with its prediction id
    tokens: int


def valid_utf8(data: str | bytes) -> bool:
    """Bytes that decode as UTF-8, or text that encodes to it (no lone surrogates)."""
    try:
        data.decode("utf-8") if isinstance(data, bytes) else data.encode("utf-8")
    except UnicodeError:
        return False
    return True


class Predictions:
    """Predict for registered models: routing, the model cache, the micro-batcher, the prediction log."""

    def __init__(self, settings: ServeSettings, store: Store, routes: RouteCache, models: ModelCache,
                 metrics: Metrics, usage: UsageMeter, redactors: Redactors, shadow: Shadowing | None = None) -> None:
        self.settings = settings
        self.store = store
        self.routes = routes
        self.models = models
        self.metrics = metrics
        self.usage = usage
        self.redactors = redactors  # the log gets the text redacted by the model's policy; the model saw it whole
        self.shadow = shadow  # the loop's shadow challenger, run after the answer is computed
        self.batcher = self._new_batcher()

    def _new_batcher(self) -> MicroBatcher:
        return MicroBatcher(self._infer, self._finish, max_batch_size=self.settings.max_batch_size,
                            max_wait_ms=self.settings.max_wait_ms)

    # ---- predict ---------------------------------------------------------------------------------

    def check_inputs(self, texts: list[str]) -> None:
        s = self.settings
        if len(texts) > s.max_texts:
            raise UsageError(f"{len(texts)} inputs in one request; the limit is {s.max_texts}",
                             hint="split the texts over several requests")
        too_long = [i for i, text in enumerate(texts) if len(text) > s.max_chars]
        if too_long:
            raise UsageError(f"inputs {too_long[:10]} are longer than {s.max_chars} characters",
                             hint="shorten them; the model reads only its first few hundred tokens anyway")
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        if empty:
            raise UsageError(f"inputs {empty[:10]} are empty")
        broken = [i for i, text in enumerate(texts) if not valid_utf8(text)]
        if broken:  # JSON can carry lone surrogates ("\ud800") that no tokenizer accepts
            raise UsageError(f"inputs {broken[:10]} are not valid Unicode text (lone surrogates)")

    async def predict(self, ref: ModelRef, texts: list[str], caller: Caller, caller_id: str,
                      ood: bool = False, explain: str | None = None) -> Served:
        """`ood`: add each text's out-of-distribution score (a second pass, outside the micro-batcher);
        `explain` ("ig" or "grad"): add token attributions to each prediction (also outside it)."""
        self.check_inputs(texts)
        if explain and len(texts) > EXPLAIN_MAX_TEXTS:
            raise UsageError(f"{len(texts)} inputs with explain; the limit is {EXPLAIN_MAX_TEXTS}",
                             hint="ask for explanations of fewer texts, or predict without explain")
        version = self.routes.resolve(ref, caller_id)
        self.redactors.for_target("model", version.model)  # a policy that cannot apply refuses before the model runs
        loaded = await self._loaded(version)
        started = time.perf_counter()
        outputs, tokens = await self.batcher.submit((version.model, version.version), texts,
                                                    meta=(loaded, caller, caller_id))
        labels = (version.model, str(version.version))
        self.metrics.predict_latency.labels(*labels).observe(time.perf_counter() - started)
        self.metrics.predict_requests.labels(*labels, caller.label).inc()
        self.metrics.predict_texts.labels(*labels, caller.label).inc(len(texts))
        self.usage.add(caller.key_id, requests=1, texts=len(texts), tokens=tokens)
        answered = outputs
        if ood:
            outputs = await self._with_ood(loaded, texts, outputs)
        if explain:
            outputs = await self._with_explanations(loaded, texts, outputs, explain)
        if self.shadow is not None:  # scheduled, never awaited: the caller gets the champion's answer now
            self.shadow.after(version, texts, answered)
        return Served(version, outputs, tokens)

    async def explain(self, ref: ModelRef, text: str, caller: Caller, caller_id: str, *, label: str | None,
                      method: str, steps: int) -> tuple[VersionInfo, list[Explanation]]:
        """Token attributions for one text with the version `ref` resolves to (one per explained label)."""
        from tunelab.inference.explain import explain

        self.check_inputs([text])
        version = self.routes.resolve(ref, caller_id)
        loaded = await self._loaded(version)
        explanations = await asyncio.get_running_loop().run_in_executor(
            None, lambda: explain(loaded.predictor, text, label=label, method=method, steps=steps))
        self.usage.add(caller.key_id, requests=1, texts=1, tokens=0)
        return version, explanations

    async def _with_explanations(self, loaded: LoadedModel, texts: list[str], outputs: list[dict[str, Any]],
                                 method: str) -> list[dict[str, Any]]:
        from tunelab.inference.explain import explain, explanation_to_dict

        def run() -> list[list[dict[str, Any]]]:
            return [[explanation_to_dict(e) for e in explain(loaded.predictor, text, method=method)] for text in texts]

        found = await asyncio.get_running_loop().run_in_executor(None, run)
        return [{**output, "explanations": explanations} for output, explanations in zip(outputs, found)]

    async def _with_ood(self, loaded: LoadedModel, texts: list[str], outputs: list[dict[str, Any]]) -> list[
            dict[str, Any]]:
        scores = await asyncio.get_running_loop().run_in_executor(None, loaded.predictor.ood_scores, texts)
        return [{**output, "ood_score": round(float(score), 6)} for output, score in zip(outputs, scores)]

    async def _loaded(self, version: VersionInfo) -> LoadedModel:
        loaded = self.models.peek(version)  # the usual case: in memory, no thread hop
        if loaded is not None:
            return loaded
        loaded = await asyncio.get_running_loop().run_in_executor(None, self.models.get, version)
        self.metrics.models_loaded.set(len(self.models.loaded()))
        return loaded

    def _infer(self, key: Hashable, jobs: list[Job]) -> list[Any]:
        """On the inference thread: one forward pass for every text of every job."""
        from tunelab.inference.serialize import prediction_to_dict

        loaded: LoadedModel = jobs[0].meta[0]
        texts = [text for job in jobs for text in job.texts]
        predictions, tokens = loaded.predictor.predict_with_tokens(texts, batch_size=self.settings.infer_batch_size)
        self.metrics.batch_size.labels(key[0], str(key[1])).observe(len(texts))
        outputs = [prediction_to_dict(p) for p in predictions]
        scores = [loaded.predictor.task.top_score(p) for p in predictions]  # logged: the review queue sorts on it
        results, start = [], 0
        for job in jobs:
            end = start + len(job.texts)
            results.append((outputs[start:end], sum(tokens[start:end]), scores[start:end]))
            start = end
        return results

    def _finish(self, key: Hashable, jobs: list[Job], results: list[Any]) -> list[Any]:
        """On the log thread: give every prediction an id and write them all in one transaction."""
        stamp = time.perf_counter()
        records, answered = [], []
        redactor = self.redactors.for_target("model", str(key[0]))  # key: (model name, version)
        redacted = iter(redactor.redact_many([text for job in jobs for text in job.texts]))  # one pass
        for job, (outputs, tokens, scores) in zip(jobs, results):
            _loaded, caller, caller_id = job.meta
            latency = (stamp - job.enqueued) * 1000.0
            with_ids = []
            for output, score in zip(outputs, scores):
                pid = uuid.uuid4().hex
                stored = next(redacted)  # NER spans move onto the stored text with it
                records.append(PredictionRecord(pid, key[0], key[1], redact_output(output, stored), latency,
                                                stored.text, caller.key_id, caller_id[:128],
                                                self.settings.log_text, score))
                with_ids.append({"id": pid, **output})
            answered.append((with_ids, tokens))
        self.store.log_predictions(records)
        return answered

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self.batcher.closed:  # the app's lifespan ran before (tests run it more than once)
            self.batcher = self._new_batcher()

    async def stop(self) -> None:
        await self.batcher.close()
        if self.shadow is not None:
            await self.shadow.drain()
            self.shadow.close()
