"""The served model (`runs:/<id>/model`): raw windows in, a class name and probabilities out.

`SigattnModel` is an MLflow pyfunc that behaves like `sigattn predict`: it takes raw windows
`x` (N, C, L) at the model's rate and, for a beat model, their raw side features `side` (N, F);
applies the model's own transforms (`sigattn.evaluate.raw`) and answers one row per window:
`label` and one `p_<class>` column per class. Bad input raises an MlflowException with
INVALID_PARAMETER_VALUE, which `mlflow models serve` answers with HTTP 400 and the one-line
message. It is logged as models-from-code (no pickle) with the checkpoint as its artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.models.signature import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema, TensorSpec

from sigattn.errors import SigattnError
from sigattn.evaluate.raw import predict_raw
from sigattn.models.checkpoint import model_from_checkpoint
from sigattn.models.meta import ModelMeta

CHECKPOINT_KEY = "checkpoint"  # the artifact that holds best.pt
INPUTS = ("x", "side")
# What MLflow runs to load the model (models-from-code): nothing is unpickled.
MODEL_CODE = "from sigattn.tracking.served import serve\n\nserve()\n"


def signature(meta: ModelMeta) -> ModelSignature:
    """Named tensors `x` (N, C, L) [and `side` (N, F)] in; `label` and `p_<class>` columns out.

    C, L and F are left open (-1) so that a wrong size reaches `prepare_raw` and its one-line
    message rather than MLflow's schema error; the model's metadata and input example give them.
    The served JSON is read as float32; in Python, MLflow wants float32 arrays.
    """
    inputs = [TensorSpec(np.dtype(np.float32), (-1, -1, -1), "x")]
    if meta.side_features:
        inputs.append(TensorSpec(np.dtype(np.float32), (-1, -1), "side"))
    outputs = [ColSpec("string", "label"), *(ColSpec("double", f"p_{c}") for c in meta.classes)]
    return ModelSignature(Schema(inputs), Schema(outputs))


def answer(meta: ModelMeta, probs: np.ndarray) -> pd.DataFrame:
    """One row per window: `label` (the most probable class) and `p_<class>` per class."""
    frame = pd.DataFrame(probs.astype(np.float64), columns=[f"p_{c}" for c in meta.classes])
    frame.insert(0, "label", [meta.classes[int(i)] for i in probs.argmax(axis=1)])
    return frame


def _column(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in frame.columns:
        return None
    try:
        return np.stack([np.asarray(cell) for cell in frame[name]])
    except ValueError:
        raise SigattnError(f"column {name!r} holds cells of different shapes; send one array per row") from None


def split_inputs(model_input: Any) -> tuple[Any, Any]:
    """(x, side) from an array (x alone), a mapping or a DataFrame with fields `x` [and `side`]."""
    if isinstance(model_input, pd.DataFrame):
        fields, get = list(model_input.columns), lambda name: _column(model_input, name)
    elif isinstance(model_input, Mapping):
        fields, get = list(model_input), model_input.get
    elif isinstance(model_input, (np.ndarray, list)):
        return model_input, None
    else:
        raise SigattnError(f"expected an array or fields x [and side]; got {type(model_input).__name__}")
    unknown = [str(f) for f in fields if f not in INPUTS]
    if unknown or "x" not in fields:
        what = f"unknown field(s) {', '.join(unknown)}" if unknown else "no field x"
        raise SigattnError(f"{what}; expected x (raw windows N, C, L) and, for beat models, side (N, F)")
    return get("x"), get("side")


class SigattnModel(PythonModel):
    """A trained sigattn model as MLflow serves it; see the module docstring for the contract."""

    # `predict` is unannotated on purpose; without this MLflow warns so once in every process that
    # defines the class, and wraps `predict` in a call that does nothing more.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        self.model, self.meta = model_from_checkpoint(context.artifacts[CHECKPOINT_KEY])

    def predict(self, context: Any, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """`model_input`: see `split_inputs` (not annotated: MLflow would read a type hint as a schema)."""
        try:
            x, side = split_inputs(model_input)
            return answer(self.meta, predict_raw(self.model, self.meta, x, side))
        except SigattnError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None


def serve() -> None:
    """Hand MLflow the model to load (called by `MODEL_CODE` only)."""
    set_model(SigattnModel())
