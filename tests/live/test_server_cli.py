"""`stepvox serve` / `stepvox chat` options as a user runs them (subprocesses): where the token
comes from, the policy options shared with `respond`, and a policy that cannot load."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from assistant.server.run import free_port
from tests.live.server_helpers import one_line_exit, stepvox


def test_serve_stops_when_its_policy_cannot_load(tmp_path):
    """A checkpoint directory that is not one: serve says why in one line and exits, instead
    of serving a page whose every question fails."""
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{not json")  # passes the up-front check, fails to load
    port = free_port()
    p = stepvox("serve", "--port", str(port), "--policy", "step-audio-2", "--model", str(tmp_path / "ckpt"),
                home=tmp_path / "home")
    line = one_line_exit(p, 2, "step-audio-2 policy", str(tmp_path / "ckpt"), timeout=180)
    assert line.startswith("error: ")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)


def wait_up(base: str, p: subprocess.Popen) -> None:
    for _ in range(300):
        try:
            httpx.get(base + "/api/health", timeout=1)
            return
        except httpx.HTTPError:
            assert p.poll() is None, p.communicate()
            time.sleep(0.1)
    raise AssertionError("serve did not start")


@pytest.mark.parametrize("source", ["env", "file", "argument"])
def test_serve_token_from_the_environment_a_file_or_the_argument(tmp_path, source):
    token = "tok-" + source + "-0123456789"
    port = free_port()
    args, env = ["serve", "--port", str(port)], {}
    if source == "env":
        env["STEPVOX_TOKEN"] = token
    elif source == "file":
        f = tmp_path / "token"
        f.write_text(token + "\n")
        args += ["--token-file", str(f)]
    else:
        args += ["--token", token]
    p = stepvox(*args, env=env, home=tmp_path / "home")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base, p)
        assert httpx.get(base + "/").status_code == 401
        assert httpx.get(base + "/?token=" + token).status_code == 200
        assert httpx.get(base + "/api/voices", headers={"Authorization": "Bearer wrong-token-1"},
                         timeout=5).status_code == 401
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
    warned = "visible to other users" in err
    assert warned is (source == "argument"), err
    assert token not in err.replace(f"?token={token}", "")  # printed only in the page's URL
