"""Model files: a joblib pickle plus a JSON model card that vouches for it.

A pickle runs code when loaded, so :func:`load_model` checks the file's
SHA-256 against the card *before* unpickling and refuses a mismatch.
"""
from __future__ import annotations

import hashlib
import json
import platform
import warnings
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import joblib

from .labels import CAUSES, DISPLAY_RU, LABELS

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "default.joblib"
_TRACKED = ("scikit-learn", "pymorphy3", "pymorphy3-dicts-ru", "razdel", "numpy", "scipy", "joblib")


class ModelError(Exception):
    """A model file that cannot be used: missing, tampered with, or not a model."""


def card_path(model_path: str | Path) -> Path:
    """``models/x.joblib`` → ``models/x.card.json``."""
    p = Path(model_path)
    return p.with_name(p.name.removesuffix(".joblib") + ".card.json")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries whose behaviour the model depends on."""
    out = {"python": platform.python_version()}
    for name in _TRACKED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def save_model(model: object, path: str | Path, card: dict | None = None) -> dict:
    """Write ``model`` with joblib and its card beside it; return the card.

    ``card`` adds fields (training data, metrics…) to the ones written here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    joblib.dump(model, tmp, compress=3)
    tmp.replace(path)
    full = {
        "model_file": path.name,
        "model_sha256": sha256_file(path),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "labels": {"causes": list(CAUSES), "other": "other", "recovery": ["attempted", "not_attempted"],
                   "columns": list(LABELS), "display_ru": DISPLAY_RU},
        "versions": library_versions(),
        **(card or {}),
    }
    card_path(path).write_text(json.dumps(full, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return full


def load_model(path: str | Path) -> tuple[object, dict]:
    """The model and its card; :class:`ModelError` if either is missing or they disagree."""
    path = Path(path)
    cpath = card_path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} not found; train one with `complaints train` or pass --model PATH")
    if not cpath.is_file():
        raise ModelError(f"model card {cpath} not found beside {path.name}; a model is only loaded with its card")
    try:
        card = json.loads(cpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"model card {cpath} is not valid JSON ({e}); retrain or restore the file") from None
    expected = card.get("model_sha256")
    actual = sha256_file(path)
    if expected != actual:
        raise ModelError(f"{path} does not match the SHA-256 in {cpath.name} (file changed or tampered with); "
                         "refusing to unpickle it — restore the file or retrain")
    now = library_versions()
    drift = {k: (v, now.get(k)) for k, v in card.get("versions", {}).items()
             if k in ("scikit-learn", "pymorphy3", "python") and now.get(k) != v}
    if drift:
        detail = ", ".join(f"{k} {a} → {b}" for k, (a, b) in drift.items())
        warnings.warn(f"model {path.name} was built with other library versions ({detail}); "
                      "results may differ — retrain with scripts/retrain.py", stacklevel=2)
    try:
        with warnings.catch_warnings():
            # scikit-learn's own version warning is replaced by the clearer one above
            warnings.filterwarnings("ignore", message=".*Trying to unpickle estimator.*")
            model = joblib.load(path)
    except Exception as e:  # a corrupt pickle can raise almost anything
        raise ModelError(f"{path} could not be loaded ({type(e).__name__}: {e}); retrain the model") from None
    return model, card

