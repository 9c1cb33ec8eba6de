"""`noether-config schema` in a real yaml-language-server (what VS Code's YAML extension runs).

The server comes from the npm registry (installed once into a cache folder outside the
repository) and is driven over LSP on stdio, as an editor does: completions of the kinds inside
`trainer.callbacks` and inside a dotted-path model's optimizer, the base fields of a user's own
model and trainer, the fields' own docs on hover, and diagnostics of good files (extends,
!include, ${...}) and bad ones.
Skipped where node or npm is missing, or where npm cannot install the server (no network).
Every read from the server has a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
BIN = Path(sys.executable).parent
SERVER_VERSION = "1.25.0"
"""The last release that runs on node 20."""
TIMEOUT = 30.0
"""Seconds to wait for any one answer of the server."""
CACHE = Path(os.environ.get("NOETHER_TEST_CACHE", Path(tempfile.gettempdir()) / "noether-tests"))


@pytest.fixture(scope="session")
def language_server() -> Path:
    """The server's entry script, installed on first use into CACHE."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("node and npm are needed to run yaml-language-server")
    target = CACHE / f"yaml-language-server-{SERVER_VERSION}"
    server = target / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
    if server.is_file():
        return server
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="yaml-language-server-", dir=CACHE))
    command = [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund"]
    command += ["--ignore-scripts", f"yaml-language-server@{SERVER_VERSION}"]
    env = {**os.environ, "npm_config_update_notifier": "false"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        reason = "timed out" if done is None else done.stderr.strip()[-500:]
        pytest.skip(f"npm cannot install yaml-language-server (no network?): {reason}")
    try:
        os.replace(staging, target)  # atomic: a concurrent session may have been first
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    assert server.is_file()
    return server


class LanguageClient:
    """A minimal LSP client over stdio: requests, notifications, and what the server sends."""

    def __init__(self, server: Path, settings: dict[str, Any], log: Path) -> None:
        self.settings = settings
        self.log = log.open("wb")
        node = shutil.which("node")
        assert node is not None
        self.process = subprocess.Popen(
            [node, str(server), "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.last_id = 0
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: BinaryIO) -> None:
        while True:
            length = None
            while True:  # headers, up to an empty line
                line = stream.readline()
                if not line:
                    self.inbox.put(None)
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None
            self.inbox.put(json.loads(stream.read(length)))

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.last_id += 1
        number = self.last_id
        self._send({"id": number, "method": method, "params": params})
        answer = self.wait(lambda message: message.get("id") == number and "method" not in message)
        assert "error" not in answer, answer
        return answer.get("result")

    def wait(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next message that `wanted` accepts; answers the server's own requests."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from yaml-language-server in {TIMEOUT} s")
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                continue
            if message is None:
                raise EOFError(f"yaml-language-server ended; see {self.log.name}")
            if "method" in message and "id" in message:  # a request of the server
                result: Any = None
                if message["method"] == "workspace/configuration":
                    items = message["params"]["items"]
                    result = [self.settings.get(item.get("section", ""), {}) for item in items]
                self._send({"id": message["id"], "result": result})
            elif wanted(message):
                return message

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        document = {"uri": uri, "languageId": "yaml", "version": 1, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": document})
        return uri

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        published = self.wait(
            lambda message: (
                message.get("method") == "textDocument/publishDiagnostics"
                and message["params"]["uri"] == uri
            )
        )
        return list(published["params"]["diagnostics"])

    def completions(self, uri: str, line: int, character: int) -> set[str]:
        position = {"line": line, "character": character}
        result = self.request(
            "textDocument/completion", {"textDocument": {"uri": uri}, "position": position}
        )
        items = result["items"] if isinstance(result, dict) else result
        return {item["label"] for item in items}

    def hover(self, uri: str, line: int, character: int) -> str:
        """The hover text at a position, without the line naming the schema file."""
        position = {"line": line, "character": character}
        result = self.request(
            "textDocument/hover", {"textDocument": {"uri": uri}, "position": position}
        )
        return "" if result is None else str(result["contents"]["value"]).split("\n\nSource")[0]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.request("shutdown", {})
            self.notify("exit", {})
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "noether.schema.json"
    done = subprocess.run(
        [str(BIN / "noether-config"), "schema", "-O", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def client(
    language_server: Path, schema: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LanguageClient]:
    """A server that knows the `!include` tag and applies the schema to the quickstart's
    files by settings (other documents name it in a modeline)."""
    settings = {
        "yaml": {
            "validate": True,
            "completion": True,
            "hover": True,
            "customTags": ["!include scalar"],
            "schemaStore": {"enable": False},
            "schemas": {schema.as_uri(): [str(QUICKSTART / "*.yaml")]},
        }
    }
    log = tmp_path_factory.mktemp("lsp") / "yaml-language-server.log"
    client = LanguageClient(language_server, settings, log)
    capabilities = {
        "workspace": {"configuration": True},
        "textDocument": {"completion": {"completionItem": {"snippetSupport": False}}},
    }
    client.request(
        "initialize",
        {"processId": os.getpid(), "rootUri": ROOT.as_uri(), "capabilities": capabilities},
    )
    client.notify("initialized", {})
    client.notify("workspace/didChangeConfiguration", {"settings": settings})
    yield client
    client.close()


def registered(group: str) -> set[str]:
    done = subprocess.run(
        [str(BIN / "noether-config"), "kinds", group, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return {row["kind"] for row in json.loads(done.stdout)}


def with_modeline(schema: Path, text: str) -> str:
    return f"# yaml-language-server: $schema={schema.as_uri()}\n{text}"


TYPING = """\
name: typing
model:
  kind: sphere_flow.configs:SphereFlowModelConfig
  <MODEL_KEY>
  optimizer:
    kind: <OPTIMIZER>
    lr: 1.0e-3
    schedule:
      kind: <SCHEDULE>
trainer:
  kind: callbacks_demo.configs:ErrorReportingTrainerConfig
  max_epochs: 2
  <TRAINER_KEY>
  callbacks:
    - kind: <CALLBACK>
"""
FILLED: dict[str, str | None] = {
    "<OPTIMIZER>": "adamw",
    "<SCHEDULE>": "constant",
    "<CALLBACK>": "checkpoint",
    "<MODEL_KEY>": None,
    "<TRAINER_KEY>": None,
}
"""What a marker stands for where the cursor is not (None: its line is left out)."""


def typed_up_to(marker: str, schema: Path) -> tuple[str, int, int]:
    """TYPING being typed where `marker` is: the text and the cursor's line and character."""
    lines = []
    for line in with_modeline(schema, TYPING).split("\n"):
        other = next((name for name in FILLED if name in line and name != marker), None)
        if other is not None:
            filled = FILLED[other]
            if filled is None:
                continue
            line = line.replace(other, filled)
        lines.append(line)
    (row,) = [number for number, line in enumerate(lines) if marker in line]
    character = lines[row].index(marker)
    lines[row] = lines[row].replace(marker, "")
    return "\n".join(lines), row, character


def offered_at(client: LanguageClient, schema: Path, folder: Path, marker: str) -> set[str]:
    text, line, character = typed_up_to(marker, schema)
    uri = client.open(folder / f"typing_{marker.strip('<>').lower()}.yaml", text)
    return client.completions(uri, line, character)


def test_every_kind_is_offered_inside_callbacks_and_a_dotted_models_optimizer(
    client: LanguageClient, schema: Path, tmp_path: Path
) -> None:
    offered = offered_at(client, schema, tmp_path, "<CALLBACK>")
    assert registered("callbacks") <= offered, offered
    offered = offered_at(client, schema, tmp_path, "<OPTIMIZER>")
    assert registered("optimizers") <= offered, offered
    offered = offered_at(client, schema, tmp_path, "<SCHEDULE>")
    assert registered("schedules") <= offered, offered


def test_base_fields_are_offered_in_a_users_own_model_and_trainer(
    client: LanguageClient, schema: Path, tmp_path: Path
) -> None:
    offered = offered_at(client, schema, tmp_path, "<MODEL_KEY>")
    assert "is_frozen" in offered, offered  # `optimizer` is written already, so not offered
    offered = offered_at(client, schema, tmp_path, "<TRAINER_KEY>")
    assert {"effective_batch_size", "max_batch_size", "initializer"} <= offered, offered


def test_fields_of_the_chosen_optimizer_are_offered(
    client: LanguageClient, schema: Path, tmp_path: Path
) -> None:
    text = with_modeline(
        schema,
        "name: keys\nmodel:\n  kind: my_project.models:NetConfig\n  optimizer:\n"
        "    kind: adamw\n    \n",
    )
    uri = client.open(tmp_path / "keys.yaml", text)
    offered = client.completions(uri, text.count("\n") - 1, 4)
    assert {"lr", "betas", "weight_decay", "schedule", "clip_grad_norm"} <= offered, offered


BAD = """\
name: bad
datasets:
  train: {kind: sphere_flow.configs:SphereFlowDatasetConfig, num_samples: 8}
model:
  kind: sphere_flow.configs:SphereFlowModelConfig
  optimizer: {kind: adamw, lr: -1.0}
trainer:
  kind: weighted_loss
  max_epochs: 2
  max_updates: 10
  effective_batch_size: 4
  field_weights: {pressure: 1.0}
  callbacks:
    - {kind: checkpoint}
"""

INCLUDES = {
    "includes.yaml": """\
name: includes
datasets: !include _datasets.yaml
model:
  kind: sphere_flow.configs:SphereFlowModelConfig
  optimizer: !include _optimizer.yaml
trainer:
  kind: weighted_loss
  max_epochs: 2
  effective_batch_size: 4
  field_weights: {pressure: 1.0}
  callbacks:
    - !include _checkpoint.yaml
""",
    "_datasets.yaml": (
        "train:\n  kind: sphere_flow.configs:SphereFlowDatasetConfig\n  num_samples: 8\n"
    ),
    "_optimizer.yaml": "{kind: adamw, lr: 1.0e-3}\n",
    "_checkpoint.yaml": "{kind: checkpoint, every_n_epochs: 2}\n",
}

REFERENCES = """\
vars:
  optimizer: {kind: sgd, lr: 0.1}
  epochs: 3
name: refs_${vars.epochs}
datasets:
  train: {kind: sphere_flow.configs:SphereFlowDatasetConfig, num_samples: 8}
model:
  kind: sphere_flow.configs:SphereFlowModelConfig
  optimizer: ${vars.optimizer}
trainer:
  kind: weighted_loss
  max_epochs: ${vars.epochs}
  effective_batch_size: 4
  field_weights: {pressure: 1.0}
  callbacks:
    - {kind: checkpoint, every_n_epochs: "${trainer.max_epochs}"}
"""


def test_good_files_get_no_diagnostics_and_bad_ones_do(
    client: LanguageClient, schema: Path, tmp_path: Path
) -> None:
    for package in ("sphere_flow", "callbacks_demo"):
        shutil.copytree(QUICKSTART / package, tmp_path / package)
    # first a bad file: its diagnostics show that the schema is applied
    bad = with_modeline(schema, BAD).split("\n")
    uri = client.open(tmp_path / "bad.yaml", "\n".join(bad))
    problems = client.diagnostics(uri)
    lines = {problem["range"]["start"]["line"] for problem in problems}
    trainer = range(bad.index("trainer:"), bad.index("  callbacks:"))
    assert bad.index("  optimizer: {kind: adamw, lr: -1.0}") in lines, problems
    assert bad.index("    - {kind: checkpoint}") in lines, problems  # no frequency
    assert any(line in trainer for line in lines), problems  # two stop criteria
    written = {"references.yaml": REFERENCES, **INCLUDES}
    for name, text in written.items():
        (tmp_path / name).write_text(text)
    good = [tmp_path / "includes.yaml", tmp_path / "references.yaml"]
    done = subprocess.run(
        [str(BIN / "noether-config"), "validate", *map(str, good)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # they are valid
    for path in good:
        uri = client.open(path, with_modeline(schema, path.read_text()))
        assert client.diagnostics(uri) == [], path.name
    # the quickstart's files, schema associated by settings (all_callbacks.yaml extends)
    for path in (QUICKSTART / "config.yaml", QUICKSTART / "all_callbacks.yaml"):
        uri = client.open(path, path.read_text())
        assert client.diagnostics(uri) == [], path.name


HOVERED = """\
name: hover
model:
  kind: sphere_flow.configs:SphereFlowModelConfig
  optimizer:
    kind: adamw
    schedule: {kind: constant}
trainer:
  kind: weighted_loss
  max_epochs: 2
  field_weights: {pressure: 1.0}
  callbacks:
    - {kind: checkpoint, every_n_epochs: 1}
"""


def test_hovering_a_key_shows_its_own_docs_not_those_of_references(
    client: LanguageClient, schema: Path, tmp_path: Path
) -> None:
    """Mappings and lists take `${...}` / `!include` through an `if`; the server shows the
    first description among the schemas it tried, so one on that `if` hid every mapping's
    and list's docs behind the text about references."""
    text = with_modeline(schema, HOVERED)
    uri = client.open(tmp_path / "hover.yaml", text)
    lines = text.split("\n")
    shown = {}
    for key in ("model", "optimizer", "schedule", "trainer", "field_weights", "callbacks"):
        (row,) = [n for n, line in enumerate(lines) if line.strip().startswith(f"{key}:")]
        shown[key] = client.hover(uri, row, lines[row].index(key) + 1)
    for key, hover in shown.items():
        assert "reference" not in hover, (key, hover)
    assert shown["trainer"].startswith("#### Trainer"), shown
    assert "weighted sum of one loss per output field" in shown["trainer"], shown
    assert "The same multiplier at every update" in shown["schedule"], shown
    assert "Output field -> weight" in shown["field_weights"], shown
    assert "User callbacks" in shown["callbacks"], shown


def documented_settings() -> dict[str, Any]:
    """The editor settings of packages/noether-config/README.md, as the server reads them."""
    readme = (ROOT / "packages" / "noether-config" / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"^```json\n(.*?)^```", readme, re.S | re.M) if "yaml." in b]
    flat = json.loads(block)
    return {"yaml": {key.removeprefix("yaml."): value for key, value in flat.items()}}


FRAGMENTS = {
    "configs/_base.yaml": "name: base\nmodel:\n  kind: sphere_flow.configs:SphereFlowModelConfig\n"
    "  optimizer: {kind: adamw, lr: 1.0e-3}\n",
    "configs/_partials/callbacks.yaml": "- {kind: checkpoint, every_n_epochs: 2}\n",
    "configs/exp.yaml": "extends: _base.yaml\ndatasets:\n"
    "  train: {kind: sphere_flow.configs:SphereFlowDatasetConfig, num_samples: 8}\n"
    "trainer:\n  kind: weighted_loss\n  max_epochs: 2\n  effective_batch_size: 4\n"
    "  field_weights: {pressure: 1.0}\n  callbacks: !include _partials/callbacks.yaml\n",
    "configs/sub/bad.yml": "extends: ../_base.yaml\ntrainer:\n  max_epochs: -2\n",
}


def test_documented_settings_check_experiments_and_leave_fragments_alone(
    language_server: Path, tmp_path: Path
) -> None:
    """The README's `yaml.schemas` applies the schema to every experiment file of the folder
    (.yaml and .yml) and not to fragments: a base file or an included list marked wrong."""
    shutil.copytree(QUICKSTART / "sphere_flow", tmp_path / "configs" / "sphere_flow")
    for name, text in FRAGMENTS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        [str(BIN / "noether-config"), "schema", "-O", str(tmp_path / "experiment.schema.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    settings = documented_settings()
    settings["yaml"].update(validate=True, schemaStore={"enable": False})
    client = LanguageClient(language_server, settings, tmp_path / "yaml-language-server.log")
    try:
        folder = [{"uri": tmp_path.as_uri(), "name": "project"}]
        capabilities = {"workspace": {"configuration": True, "workspaceFolders": True}}
        client.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": tmp_path.as_uri(),
                "workspaceFolders": folder,
                "capabilities": capabilities,
            },
        )
        client.notify("initialized", {})
        client.notify("workspace/didChangeConfiguration", {"settings": settings})
        found = {}
        for name, text in FRAGMENTS.items():
            uri = client.open(tmp_path / name, text)
            found[name] = [d["range"]["start"]["line"] for d in client.diagnostics(uri)]
    finally:
        client.close()
    assert found == {
        "configs/_base.yaml": [],
        "configs/_partials/callbacks.yaml": [],
        "configs/exp.yaml": [],
        "configs/sub/bad.yml": [2],  # max_epochs: -2
    }, found
