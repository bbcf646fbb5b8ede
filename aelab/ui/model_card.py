"""What a checkpoint's metadata says, in words: the sidebar's model card and Compare's table; free of Streamlit
so that unit tests cover every rule."""

from __future__ import annotations

from aelab.data.registry import dataset_title
from aelab.models.config import ModelConfig, OwnModelConfig, conventions_text, describe, from_header
from aelab.models.noise import denoising_note
from aelab.store.checkpoints import IWAE
from aelab.training.config import Status
from aelab.ui.text import epochs_text


def _number(value: object, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "—"


CARD_METRICS = {"nelbo": "test −ELBO (nats)", "recon": "test recon (nats)", "active_units": "active units"}
MIG_TITLE = "test MIG (disentanglement, 0 to 1)"  # recorded where the data knows its factors (aelab.explore.metrics)


def card_facts(meta: dict, shown: str | None = None) -> dict[str, str]:
    """The sidebar's model card: what the checkpoint's metadata says about how it was made and how it scores.

    `shown` is the dataset the pages show: when the model learnt another, the card says so, since
    its recorded figures are then not what the pages measure.
    """
    train, metrics = meta.get("train") or {}, meta.get("metrics") or {}
    trained = str(meta.get("dataset", "?"))
    if shown is not None and trained not in ("?", shown):
        trained = f"{trained}, shown on {dataset_title(shown)}"
    epochs = meta.get("epochs")
    facts = {"trained on": trained, "trained for": epochs_text(epochs) if isinstance(epochs, (int, float)) else "?"}
    if isinstance(meta.get("data_note"), str):  # a known dataset padded or resized to the model's shape
        facts["data"] = meta["data_note"]
    imported = meta.get("imported")
    if isinstance(imported, dict):  # an own model (aelab.models.own): trained elsewhere, its weights brought in
        facts["trained for"] = "elsewhere"
        facts["weights"] = f"imported from {imported.get('weights', '?')}"
        try:
            facts["conventions"] = conventions_text(OwnModelConfig.from_dict(meta.get("model")))
        except ValueError:  # a header load_checkpoint has not validated (Compare lists them): no conventions said
            pass
    if train.get("noise"):
        facts["denoising"] = denoising_note(train)
    status = _status(meta.get("status"))
    if status is not None and not status.completed:
        facts["ended"] = status.label.lower()
    if train.get("kl_warmup_epochs"):
        facts["KL warm-up"] = f"{train['kl_warmup_epochs']:g} epochs"
    if train:
        facts["batch · lr"] = f"{train['batch_size']} · {train['lr']:g}"
    for key, title in CARD_METRICS.items():
        if key in metrics:
            facts[title] = _number(metrics[key], 1) if isinstance(metrics[key], float) else str(metrics[key])
    if isinstance(metrics.get("mig"), (int, float)):
        facts[MIG_TITLE] = _number(metrics["mig"], 3)
    if iwae_text(metrics):
        facts["test −log p(x) (nats)"] = iwae_text(metrics)
    return facts


def iwae_text(metrics: dict) -> str:
    """The recorded log-likelihood bound (aelab.explore.likelihood) as 'nll ± stderr (IWAE, k=…, n images)', or ''."""
    iwae = metrics.get(IWAE)
    if not (
        isinstance(iwae, dict)
        and all(isinstance(iwae.get(key), int) for key in ("k", "images"))
        and all(isinstance(iwae.get(key), (int, float)) for key in ("nll", "stderr"))
    ):
        return ""  # none recorded, or a header from elsewhere
    return (
        f"{_number(iwae['nll'], 1)} ± {_number(iwae['stderr'], 1)} (IWAE, k={iwae['k']:,}, {iwae['images']:,} images)"
    )


def command_title(meta: dict) -> str:
    """The title over a checkpoint's recorded command: the CLI or app command that trained or imported it."""
    return "How it was imported" if "imported" in meta else "How it was trained"


def model_title(meta: dict) -> str:
    """The model card's title from a checkpoint's metadata alone, e.g. 'MLP VAE, 20-d latent'."""
    try:
        return describe(from_header(meta.get("model")))
    except (TypeError, ValueError) as err:
        return f"An unreadable model description ({err})"


def _status(value: object) -> Status | None:
    try:
        return Status(value)
    except ValueError:  # absent, or a header from elsewhere
        return None


def _epochs(meta: dict) -> str:
    """Compare's 'epochs (best)': what the header records, and says so when it records nothing."""
    if "imported" in meta:
        return "not recorded (trained elsewhere)"
    epochs, best = meta.get("epochs"), meta.get("best_epoch")
    if not isinstance(epochs, (int, float)):
        return "not recorded"
    return f"{epochs:g} ({best if isinstance(best, int) else 'best not recorded'})"


def metric_rows(
    config: ModelConfig | OwnModelConfig, meta: dict, parameters: int, measured_mse: float
) -> dict[str, str]:
    """Compare's table: a checkpoint's recorded test metrics and the error measured in the app, as text."""
    metrics = meta.get("metrics") or {}
    kind = metrics.get("recon_kind", config.recon).upper()
    return {
        "model": describe(config),
        "parameters": f"{parameters:,}",
        "trained on": str(meta.get("dataset", "?")),
        "epochs (best)": _epochs(meta),
        "denoising": denoising_note(meta.get("train")),
        f"recorded test recon ({kind}, nats)": _number(metrics.get("recon")),
        "recorded test −ELBO (nats)": _number(metrics.get("nelbo")),
        "recorded test −log p(x), IWAE (nats)": iwae_text(metrics) or "—",
        "recorded test KL (nats)": _number(metrics.get("kl")),
        "recorded active units": str(metrics.get("active_units", "—")),
        f"recorded {MIG_TITLE}": _number(metrics.get("mig"), 3),
        "recorded recon from noisy input (nats)": _number(metrics.get("denoise_recon")),
        "measured test MSE per pixel": f"{measured_mse:.5f}",
    }
