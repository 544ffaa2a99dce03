"""unsafe_debug in real interactive sessions (pexpect pseudo-terminals) and without a terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from naga import ConfigError, clicfg, unsafe_debug

pexpect = pytest.importorskip("pexpect")
PROMPT = "IPython post-mortem debugger> "

SEED = """
from naga import clicfg, unsafe_debug

class Config:
    param = 1
    save_dir = None

def process(cfg):
    pass

def helper(cfg, scale):
    inner = scale * 2
    return inner / 0

@unsafe_debug
@clicfg(config_class=Config)
def main(cfg: Config):
    a = 0
    if cfg.param == 2:
        helper(cfg, 21)
    b = 1 / a  # This will raise an exception
    process(cfg)

if __name__ == '__main__':
    main()
"""

BLOCK_IPYTHON = """
import sys
sys.modules["IPython"] = None  # simulates a machine without IPython (it is installed here)
exec(compile(open("process.py").read(), "process.py", "exec"))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "process.py").write_text(SEED)
    (tmp_path / "noipython.py").write_text(BLOCK_IPYTHON)
    return tmp_path


def spawn(project: Path, *argv: str) -> pexpect.spawn:
    env = {**os.environ, "NAGA_DEBUG": "1", "IPYTHONDIR": str(project / ".ipython"), "TERM": "dumb"}
    env.pop("NAGA_WORKER", None)
    return pexpect.spawn(
        argv[0], list(argv[1:]), env=env, cwd=str(project), encoding="utf-8", timeout=90
    )


def ipython() -> str:
    found = shutil.which("ipython", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.skip("IPython (the debug extra) is not installed")
    return found


def test_seed_session_in_ipython(project: Path) -> None:
    child = spawn(
        project, ipython(), "--no-banner", "--simple-prompt", "--colors=NoColor", "-i", "process.py"
    )
    child.expect_exact("The current context is available in the `ctx` dictionary.")
    child.expect_exact(PROMPT)
    child.sendline("a")
    child.expect(r"\r\n0\r\n")
    child.expect_exact(PROMPT)
    child.sendline("p cfg.param")
    child.expect(r"\r\n1\r\n")
    child.sendline("q")
    child.expect_exact("ZeroDivisionError")
    child.expect(r"In \[1\]: ")
    child.sendline("ctx['cfg'].param, ctx['a']")
    child.expect_exact("(1, 0)")
    child.sendline("exit()")
    child.expect(pexpect.EOF)


def test_python_i_restores_the_prompt_and_keeps_ctx(project: Path) -> None:
    ipython()  # the IPython debugger class is used when IPython is installed
    child = spawn(project, sys.executable, "-i", "process.py")
    child.expect_exact(PROMPT)
    child.sendline("!a")
    child.expect(r"\r\n0\r\n")
    child.sendline("c")
    child.expect_exact(">>> ")
    child.sendline(
        "import sys; print(sys.ps1 == '>>> ', ctx['a'], type(ctx['__exception__']).__name__)"
    )
    child.expect_exact("True 0 ZeroDivisionError")
    child.sendline("exit()")
    child.expect(pexpect.EOF)


def test_plain_pdb_when_ipython_is_missing(project: Path) -> None:
    child = spawn(project, sys.executable, "-i", "noipython.py")
    child.expect_exact(PROMPT)
    child.sendline("a")  # pdb's "args" command, taken over by the local of that name
    child.expect(r"\r\n0\r\n")
    child.sendline("p a + 1")
    child.expect(r"\r\n1\r\n")
    child.sendline("q")
    child.expect_exact(">>> ")
    child.sendline("print(sorted(k for k in ctx if not k.startswith('__')))")
    child.expect_exact("['a', 'cfg']")
    child.sendline("exit()")
    child.expect(pexpect.EOF)


def test_error_in_a_helper_keeps_every_frame(project: Path) -> None:
    child = spawn(project, sys.executable, "-i", "process.py", "-o", "param=2")
    child.expect_exact(PROMPT)
    child.sendline("inner")
    child.expect(r"\r\n42\r\n")
    child.sendline("q")
    child.expect_exact(">>> ")
    child.sendline(
        "print(ctx['inner'], ctx['cfg'].param, [w.split(' in ')[-1] for w, _ in ctx['__frames__']])"
    )
    child.expect_exact("42 2 ['main', 'helper']")
    child.sendline("exit()")
    child.expect(pexpect.EOF)


def test_without_a_terminal_it_never_waits(project: Path) -> None:
    env = {**os.environ, "NAGA_DEBUG": "yes"}
    done = subprocess.run(
        [sys.executable, "process.py"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    naga_lines = [line for line in done.stderr.splitlines() if line.startswith("naga:")]
    assert naga_lines == [
        f"naga: unsafe_debug: {project / 'process.py'}:21 in main: ZeroDivisionError: division by zero; locals in ctx"
    ]
    assert "Traceback (most recent call last)" in done.stderr and "b = 1 / a" in done.stderr


def test_off_means_untouched_and_config_errors_stay_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    error = ValueError("x")

    @unsafe_debug
    def fails() -> None:
        raise error

    monkeypatch.delenv("NAGA_DEBUG", raising=False)
    with pytest.raises(ValueError) as info:
        fails()
    assert info.value is error
    assert (
        "ctx" not in sys.modules["__main__"].__dict__
        or sys.modules["__main__"].__dict__.get("ctx", {}).get("__exception__") is not error
    )

    monkeypatch.setenv("NAGA_DEBUG", "TRUE")
    with pytest.raises(ValueError) as info:
        fails()  # pytest captures output: no terminal, so no debugger, and the same exception
    assert info.value is error
    assert sys.modules["__main__"].__dict__["ctx"]["__exception__"] is error

    @unsafe_debug
    @clicfg(config_class={"param": 1})
    def main(cfg: dict) -> None:
        pass

    sys.modules["__main__"].__dict__.pop("ctx", None)
    with pytest.raises(ConfigError, match="param expects int"):
        main(argv=["-o", "param=x"])
    assert "ctx" not in sys.modules["__main__"].__dict__


KERNEL_CELL = """
import os, sys
sys.path.insert(0, os.getcwd())
from process import main  # the seed's script, imported: clicfg parses nothing
main()
"""


@pytest.fixture
def kernel(project: Path) -> Iterator[Any]:
    """A real Jupyter kernel (ipykernel) in the project folder, with NAGA_DEBUG=1."""
    manager_module = pytest.importorskip("jupyter_client.manager")
    pytest.importorskip("ipykernel")
    env = {**os.environ, "NAGA_DEBUG": "1", "IPYTHONDIR": str(project / ".ipython")}
    env.pop("NAGA_WORKER", None)
    manager, client = manager_module.start_new_kernel(
        kernel_name="python3", cwd=str(project), env=env, startup_timeout=120
    )
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _outputs(client: Any, msg_id: str, answers: list[str] | None = None) -> tuple[str, str]:
    """Run until the cell is idle: its text output and status, answering input requests."""
    text, status = [], ""
    while True:
        if answers is not None:
            try:
                request = client.get_stdin_msg(timeout=0.05)
                text.append(request["content"]["prompt"])
                client.input(answers.pop(0))
            except Exception:
                pass
        try:
            msg = client.get_iopub_msg(timeout=0.05)
        except Exception:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text.append(content["text"])
        elif kind == "error":
            status = content["ename"]
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(text), status


def test_jupyter_kernel_without_stdin_fills_ctx(kernel: Any) -> None:
    msg_id = kernel.execute(KERNEL_CELL, allow_stdin=False)
    out, error = _outputs(kernel, msg_id)
    assert error == "ZeroDivisionError"
    assert "naga: unsafe_debug: " in out and "locals in ctx" in out
    msg_id = kernel.execute("print(ctx['a'], ctx['cfg'].param)")
    assert _outputs(kernel, msg_id)[0].strip() == "0 1"


def test_jupyter_kernel_with_stdin_opens_the_debugger(kernel: Any) -> None:
    msg_id = kernel.execute(KERNEL_CELL, allow_stdin=True)
    out, error = _outputs(kernel, msg_id, answers=["a", "q"])
    assert PROMPT in out and "\n0\n" in out  # `a` at the debugger prompt printed the local
    assert error == "ZeroDivisionError"  # then the same exception propagated to the cell
    msg_id = kernel.execute("print(ctx['cfg'].param)")
    assert _outputs(kernel, msg_id)[0].strip() == "1"
