"""Names that a config gives to folders and files of a run's path."""

FOLDER_NAME = r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$"
"""One name of a run's path (experiment name, run id, a tracker's file): no separator, no
`..`, not hidden."""

MAX_NAME_LENGTH = 255
"""The longest file name that file systems take (NAME_MAX); FOLDER_NAME is ASCII, so in
characters as in bytes."""

RUN_FOLDER_ENTRIES = frozenset(
    {"config.yaml", "run.json", "train.log", "summary.json", "checkpoints", "mlflow.db"}
)
"""What noether itself keeps in a run folder, which a tracker's file must not replace."""
