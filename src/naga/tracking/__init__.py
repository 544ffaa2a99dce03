"""Tracking: MLflow runs for run directories (MLflow loads only when a run starts)."""

from naga.tracking._mlflow import TAG_HASH, TAG_ID, TAG_STATUS, mlflow_lock, remembered_run
from naga.tracking._ui import ui_hint

__all__ = ["TAG_HASH", "TAG_ID", "TAG_STATUS", "mlflow_lock", "remembered_run", "ui_hint"]
