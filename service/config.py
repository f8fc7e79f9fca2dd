"""Settings: the one place where the service's configuration is declared (env prefix DEPECHE_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.presets import DECODING, PresetName

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
CpuIsa = Literal["auto", "library", "AVX512", "AVX2", "AVX", "GENERIC"]
Precision = Literal[
    "auto", "float32", "bfloat16", "int8", "float16", "int8_float16", "int8_bfloat16"
]


class Settings(BaseSettings):
    """Every setting of the service; each field reads the env var DEPECHE_<FIELD NAME>."""

    model_config = SettingsConfigDict(env_prefix="DEPECHE_", extra="ignore")

    preset: PresetName = "balanced"
    """Models and decoding picked together: `fast` (distilbart-cnn-12-3, 2 beams), `balanced`
    (opus-mt-fr-en + distilbart-cnn-12-6, 2 beams) or `quality` (opus-mt-tc-big-fr-en +
    bart-large-cnn, 4 beams); see `service.presets` and the manifest's `presets`. Every
    setting below that is set explicitly overrides the preset's value."""

    translation_model: str | None = None
    """Hub id or local folder of the MarianMT model. Unset: the manifest's model, taken from
    `models_dir` when fetched there, else from the hub at the manifest's pinned revision."""

    translation_revision: str | None = None
    """Hub revision (commit sha, tag or branch) of `translation_model`. Unset: the manifest's
    pinned revision for the manifest's model, `main` for any other hub id."""

    summary_model: str | None = None
    """Hub id or local folder of the summarization model (BART family). Unset: as above."""

    summary_revision: str | None = None
    """Hub revision of `summary_model`. Unset: as for `translation_revision`."""

    models_dir: Path = Path("models")
    """Folder holding `manifest.json` and the models fetched by `scripts/fetch_models.py`."""

    offline: bool = False
    """Never touch the network: models must be in `models_dir`, a local folder or the HF cache."""

    hub_timeout_s: float = Field(default=8.0, gt=0)
    """How long to wait for the Hugging Face Hub before declaring it unreachable at startup."""

    device: DeviceName = "auto"
    """auto: CUDA in float16 when present, else CPU in float32. cuda/mps/cpu force a device."""

    engine: Literal["auto", "transformers", "ctranslate2"] = "auto"
    """Inference engine. auto: CTranslate2; a model in transformers format is converted once
    into a copy beside it (or under `models_dir`), int8 on the CPU and float16 on CUDA, and
    served from the copy; should that fail, the model runs on transformers, with a warning in
    the log, /health and `meta.warnings`. transformers / ctranslate2: that engine and nothing
    else, no conversion (ctranslate2 needs converted weights)."""

    precision: Precision = "auto"
    """Weights and compute precision. auto: float32 on CPU and float16 on CUDA for
    transformers; int8 on CPU and float16 on CUDA for CTranslate2. int8_bfloat16: CTranslate2's
    int8 weights with bfloat16 activations, on a CPU with AVX-512 BF16 or AMX whose CTranslate2
    build offers it (explicit only: auto keeps int8)."""

    intra_threads: int | None = Field(default=None, ge=1)
    """Threads inside one model call (torch intra-op, CTranslate2 intra_threads), for both
    models unless `translation_intra_threads` / `summary_intra_threads` say otherwise.
    Unset: derived per model (`engines.registry.resolve_threads`): CTranslate2 on the CPU gives
    the translation model 1 thread per call and the summary model every core; transformers
    uses every core this process may use."""

    inter_threads: int | None = Field(default=None, ge=1)
    """Model calls that run in parallel per model (CTranslate2 inter_threads, and as many
    scheduler workers), for both models unless `translation_inter_threads` /
    `summary_inter_threads` say otherwise. Unset: derived per model: CTranslate2 on the CPU
    runs one translation call per core and two summary calls (one on one core), within the
    shared `compute_threads` budget. transformers always
    runs one call at a time per model (its lock serializes calls)."""

    translation_inter_threads: int | None = Field(default=None, ge=1)
    """`inter_threads` for the translation model only. Unset: `inter_threads`, else derived
    (CTranslate2 on the CPU: cores // intra threads)."""

    translation_intra_threads: int | None = Field(default=None, ge=1)
    """`intra_threads` for the translation model only. Unset: `intra_threads`, else derived
    (CTranslate2 on the CPU: cores // inter threads)."""

    summary_inter_threads: int | None = Field(default=None, ge=1)
    """`inter_threads` for the summary model only. Unset: `inter_threads`, else derived
    (CTranslate2 on the CPU: 2, or 1 on one core; `ct2_backend.SUMMARY_CALLS`)."""

    summary_intra_threads: int | None = Field(default=None, ge=1)
    """`intra_threads` for the summary model only. Unset: `intra_threads`, else derived
    (CTranslate2 on the CPU: cores // inter threads)."""

    batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    """How long a model's scheduler waits for more requests before running a batch."""

    compute_threads: int | None = Field(default=None, ge=0)
    """Threads the model calls of both models may use at once on the CPU: a call holds its
    intra threads while it runs, and waits, first come first served, while the rest are in use
    (`scheduler.ThreadBudget`). Unset: the cores this process may use, so the two models'
    calls never ask for more threads than there are cores (on 2 cores, two of the four
    one-thread workers run at a time; the 16-client peak fell by about 100 MiB and throughput
    held, docs/benchmarks/cpu-2026-12-02-memory.md). 0: no cap. No effect on CUDA."""

    max_queued_sentences: int = Field(default=4096, ge=1)
    """Sentences (or chunks) waiting per model; beyond it new requests get 429 + Retry-After."""

    max_chars: int = Field(default=100_000, ge=1)
    """Longest accepted article (text plus title), in characters; longer requests get 413."""

    translation_num_beams: int | None = Field(default=None, ge=1, le=16)
    """Beam size for translation. Unset: the model's own generation config (4 for opus-mt)."""

    translation_max_length: int | None = Field(default=None, ge=8)
    """Longest translation of one sentence, in tokens. Unset: the model's own (512 for opus-mt)."""

    translation_batch_tokens: int = Field(default=1024, ge=64)
    """Token budget of one translation batch (batch size times the longest padded sentence).
    What a batch holds in memory grows with it: CTranslate2 keeps every decoder layer's
    cross-attention keys and values for each hypothesis, beams x tokens x d_model floats x 2 x
    layers, 400 MB per worker for opus-mt at beam 4 and 4096 tokens. 1024 took the service's
    peak at 16 clients from 1.6 GB to 1.0 GB with no loss of throughput measured
    (docs/benchmarks/cpu-2026-12-02-memory.md)."""

    translation_sub_batch: int = Field(default=4, ge=0)
    """Sentences the translation model decodes at once within a batch taken at low load (a
    share among idle workers, or the last of what waited, as each worker's part of one
    article is), one group after another; 0: all of it at once. A call's working memory grows
    with sentences x beams, and at 1 client the two workers' calls over the 59,514-word output
    layer are the service's peak: 4 took it from 703-722 to 658-678 MiB in three interleaved
    pairs. Batches that leave work waiting, under load, run whole: splitting every batch cost
    about 15 % of the articles a minute at 16 clients
    (docs/benchmarks/cpu-2026-12-02-memory.md, eighth-session addendum)."""

    ct2_cpu_isa: CpuIsa = "auto"
    """Which of CTranslate2's own CPU kernels (softmax, quantization, beam search arithmetic;
    the matrix products are MKL's or oneDNN's either way) the process runs: its
    `CT2_FORCE_CPU_ISA`. auto: AVX512 where the CPU has AVX-512 F, CD, BW, DQ and VL (the
    library picks AVX2 there; see `service.engines.ct2_backend.cpu_isa`), unless
    CT2_FORCE_CPU_ISA is already set; library: CTranslate2's own choice. Process-wide, read
    by CTranslate2 when it first runs a model."""

    translation_vmap: bool = False
    """Score only the translation model's vocabulary-map candidates (CTranslate2's `use_vmap`,
    the converted folder's `vmap.txt`, built with `python -m service.engines.vmap`): the
    output layer shrinks from 59,514 words to the few thousand a batch's sources may need. Off
    by default: a map can change a translation (a word outside it can never be written), and
    no map for the real opus-mt has been checked here."""

    summary_num_beams: int | None = Field(default=None, ge=0, le=16)
    """Beam size for summaries. Unset: the preset's, 2 for balanced: for distilbart-cnn-12-6
    its author found ROUGE unchanged at 2 beams versus the published 4, at a fraction of the
    cost (4 for quality, bart-large-cnn's published configuration). Set 4 for the model's
    published configuration, 0 for whatever the model's own config says."""

    summary_max_length: int | None = Field(default=None, ge=8)
    """Longest summary, in tokens. Unset: the preset's (128, room for 6 key points, rather than
    the models' own 142) for the preset's own summary model; with `summary_model` set, that
    model's own."""

    summary_min_length: int | None = Field(default=None, ge=0)
    """Shortest summary, in tokens. Unset: the preset's (56, the models' own) for the preset's
    own summary model; with `summary_model` set, that model's own."""

    summary_batch_tokens: int = Field(default=1024, ge=64)
    """Token budget of one batch of summary inputs (chunks of map-reduce summaries, and the
    articles of concurrent requests); a longer input gets a batch of its own. 1024 for the
    same reason as `translation_batch_tokens`."""

    summary_overlap: bool = False
    """Map-reduce summaries: each chunk goes to the summary model as soon as its paragraphs are
    translated, instead of after the whole translation. The result is the same either way.
    Off by default: on 2 cores both models already use every core, so the article took as long
    and its translation (what streams) finished later; it pays where cores are left idle."""

    default_max_points: int = Field(default=5, ge=3, le=6)
    """Key points returned when a request does not set `options.max_points` (3 to 6)."""

    host: str = "127.0.0.1"
    """Address `python -m service serve` binds to (the container sets 0.0.0.0)."""

    port: int = Field(default=8000, ge=1, le=65535)
    """Port `python -m service serve` listens on."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of the service and of uvicorn."""

    jobs_db: Path = Path("data/jobs.sqlite3")
    """SQLite file of the job table (status, progress, results, webhook attempts, idempotency
    keys) and, with the sqlite backend, of the queue itself. Its folder is created if needed."""

    jobs_backend: Literal["sqlite", "redis"] = "sqlite"
    """Where jobs live: `sqlite` (queue, job table and usage counts in `jobs_db`: one host, no
    server to run) or `redis` (all of it in `redis_url`: API replicas and `python -m service
    worker` processes on several machines share one newsroom's jobs)."""

    redis_url: str = "redis://localhost:6379/0"
    """Redis server of the jobs, queue and usage counts when `jobs_backend` is `redis`."""

    redis_prefix: str = Field(default="depeche", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Prefix of every Redis key (and the queue's name), so several services can share one
    Redis server."""

    jobs_retention_s: float = Field(default=7 * 24 * 3600.0, ge=0)
    """Finished jobs (result, webhook attempts and Idempotency-Key) are deleted this long after
    they finish (default 7 days); a job whose webhook is still being delivered is kept. 0: kept
    forever."""

    jobs_workers: int = Field(default=1, ge=0, le=16)
    """Job workers inside the API process. 1: jobs run in the service itself; 0: this process
    only accepts jobs, separate `python -m service worker` processes run them."""

    jobs_stale_s: float = Field(default=30.0, ge=1)
    """A running job whose worker has not reported for this long is put back in the queue
    (a worker on this host that is known to be dead is taken over at once)."""

    webhook_secret: SecretStr | None = None
    """HMAC-SHA256 key that signs webhook deliveries. Unset: `callback_url` is refused (422)."""

    webhook_allow: str = ""
    """Comma-separated host names and CIDRs that webhooks may reach even though they resolve to
    private, loopback or link-local addresses (those are refused otherwise)."""

    webhook_allow_public: bool = True
    """Whether webhooks may reach any public address. false: a strict allow-list, where only
    the hosts and CIDRs in `webhook_allow` may be called back."""

    webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    """Webhook delivery attempts at most; the first 2xx answer ends them."""

    webhook_backoff_s: float = Field(default=1.0, ge=0)
    """Base of the exponential backoff between webhook attempts (full jitter: a random wait
    between 0 and base × 2^(attempt-1), at most 60 s)."""

    webhook_timeout_s: float = Field(default=10.0, gt=0)
    """Timeout of one webhook attempt (connect plus answer), in seconds."""

    api_keys: SecretStr | None = None
    """Comma-separated API keys. With at least one key (here or in `api_keys_file`), the article,
    batch, job and usage endpoints need `Authorization: Bearer <key>`. Unset: keys are off."""

    api_keys_file: Path | None = None
    """File of API keys, one per line; blank lines and lines starting with `#` are skipped. Its
    keys add to `api_keys`. Read once at startup; an unreadable file stops the start."""

    batch_max_articles: int = Field(default=20, ge=1, le=1000)
    """Most articles one POST /summarize/batch may carry; more get 413 `too_many_articles`."""

    cache_size: int = Field(default=256, ge=0)
    """Results of /summarize and /translate kept in an in-memory LRU cache, keyed by the
    normalized article, the options and the models. The per-paragraph translation cache holds
    64 paragraphs per result. 0 turns both caches off."""

    shutdown_grace_s: int = Field(default=30, ge=0, le=3600)
    """On SIGTERM (or SIGINT), how long the service lets work in flight finish: it stops
    accepting connections and taking jobs at once, then waits up to this many seconds for the
    requests in flight and the running jobs. A job still running then goes back to the queue
    (it starts again at the next start, or on another worker); connections still open are
    closed. `python -m service worker` gives its running jobs the same grace."""

    log_format: Literal["text", "json"] = "text"
    """Log lines on stderr: `text` (one readable line per record) or `json` (one JSON object
    per line: time, level, logger, message, and for requests the request id, route, status,
    duration and article characters), for the service's logs and its access log alike."""

    metrics_public: bool = False
    """With API keys on, GET /metrics needs a key like the work endpoints; true lets a scraper
    read it without one (the metrics hold no key, address or request id). Keys off: open."""

    convert_timeout_s: float = Field(default=900.0, gt=0)
    """With `engine` auto: the longest one model's conversion to CTranslate2 may take (waiting
    for another process converting the same model included); past it, the converter is stopped
    and the model runs on transformers, with a warning."""

    @model_validator(mode="after")
    def _fill_from_preset(self) -> Settings:
        """Give every decoding setting left unset its preset's value. The summary's length
        bounds were chosen for the preset's own summarizer, so a model set by
        DEPECHE_SUMMARY_MODEL keeps its own lengths."""
        decoding = DECODING[self.preset]
        given = self.model_fields_set
        if "summary_num_beams" not in given:
            self.summary_num_beams = decoding.summary_num_beams
        if "translation_num_beams" not in given:
            self.translation_num_beams = decoding.translation_num_beams
        if self.summary_model is None:
            if "summary_max_length" not in given:
                self.summary_max_length = decoding.summary_max_length
            if "summary_min_length" not in given:
                self.summary_min_length = decoding.summary_min_length
        return self
