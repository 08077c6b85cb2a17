"""The two models a training run logs: the served pyfunc (`model`) and the bare torch module (`torch_model`).

`runs:/<id>/model` is `sigattn.tracking.served.SigattnModel`, logged as models-from-code with
best.pt as its artifact: raw windows in, class names and probabilities out; it needs sigattn
where it is loaded (`mlflow models serve --env-manager local` in sigattn's environment).
`runs:/<id>/torch_model` is a torch.export graph ("pt2", loadable without sigattn or pickle)
that takes prepared windows (and standardised side features) and returns logits.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from pathlib import Path

import numpy as np
import scipy
import torch
from torch import nn

from sigattn import __version__
from sigattn.errors import SigattnError
from sigattn.evaluate.raw import refusal
from sigattn.models.meta import ModelMeta
from sigattn.tracking.served import CHECKPOINT_KEY, MODEL_CODE, signature
from sigattn.tracking.store import MODEL_NAME, TORCH_MODEL_NAME, first_line


def _pins() -> list[str]:
    return [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"]


def log_torch_model(model: nn.Module, checkpoint: Path, examples: list[np.ndarray], run_id: str, step: int) -> None:
    """`torch_model`: the bare module as a torch.export graph; `examples` are its prepared inputs.

    The batch axis stays dynamic because each example has two rows (torch.export fixes a size-1 axis).
    """
    import mlflow.pytorch
    from mlflow.models import infer_signature

    cpu_model = copy.deepcopy(model).cpu().eval()  # leave the caller's model as it was
    with torch.no_grad():
        output = cpu_model(*(torch.from_numpy(a) for a in examples)).numpy()
    named = examples[0] if len(examples) == 1 else dict(zip(("x", "side"), examples, strict=True))
    try:
        mlflow.pytorch.log_model(
            cpu_model,
            name=TORCH_MODEL_NAME,
            run_id=run_id,
            step=step,
            signature=infer_signature(named, output),
            input_example=examples[0] if len(examples) == 1 else tuple(examples),
            serialization_format="pt2",
            pip_requirements=_pins(),
            extra_files=[str(checkpoint)],
        )
    except Exception as error:
        raise SigattnError(
            f"could not log the model of run {run_id} (torch.export): {first_line(error)}; "
            f"its checkpoint {Path(checkpoint).name} is unaffected"
        ) from error


def log_served_model(
    meta: ModelMeta, checkpoint: Path, x: np.ndarray, side: np.ndarray | None, run_id: str, step: int
) -> None:
    """`model`: the pyfunc `mlflow models serve` answers with; `x`, `side` are a raw input example,
    left out where the model refuses raw windows (MLflow would warn that it failed to validate it)."""
    import mlflow.pyfunc
    from mlflow.models import Model

    example = None if refusal(meta) else {"x": x} if side is None else {"x": x, "side": side}
    description = {
        "classes": list(meta.classes),
        "fs": meta.fs,
        "x": {"shape": ["N", meta.signal_channels, meta.window_length], "sampled_at_hz": meta.fs},
        "side": {"shape": ["N", len(meta.side_features)], "names": list(meta.side_features)}
        if side is not None
        else None,
        "transforms": [dict(t) for t in meta.transforms],
        "sigattn_version": __version__,
    }
    with tempfile.TemporaryDirectory(prefix="sigattn-model-") as folder:
        code = Path(folder) / "sigattn_model.py"
        code.write_text(MODEL_CODE)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", ".*An input example was not provided", UserWarning)  # left out above
                Model.log(  # mlflow.pyfunc.log_model has no run_id: it would open a run
                    artifact_path=None,
                    name=MODEL_NAME,
                    flavor=mlflow.pyfunc,
                    python_model=str(code),
                    artifacts={CHECKPOINT_KEY: str(checkpoint)},
                    run_id=run_id,
                    step=step,
                    signature=signature(meta),
                    input_example=example,
                    pip_requirements=[*_pins(), f"scipy=={scipy.__version__}", f"sigattn=={__version__}"],
                    metadata={"sigattn": description},
                )
        except Exception as error:
            raise SigattnError(f"could not log the served model of run {run_id}: {first_line(error)}") from error
